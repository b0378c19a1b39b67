#include "guest_table.h"

#include <errno.h>
#include <linux/vfio.h>

#include "guest_table_ops.h"
#include "ioctl.h"

namespace vfio {

const char* RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "none";
    case Refusal::kIobaMisaligned:
      return "ioba-misaligned";
    case Refusal::kIobaOutsideWindow:
      return "ioba-outside-window";
    case Refusal::kGpaMisaligned:
      return "gpa-misaligned";
    case Refusal::kGpaOutsideSlots:
      return "gpa-outside-slots";
    case Refusal::kGpaCrossesSlotEnd:
      return "gpa-crosses-slot-end";
    case Refusal::kBackingPage:
      return "backing-page";
    case Refusal::kTooManyEntries:
      return "too-many-entries";
    case Refusal::kListShort:
      return "list-short";
    case Refusal::kListMisaligned:
      return "list-misaligned";
    case Refusal::kListOutsideSlots:
      return "list-outside-slots";
  }
  return "unknown";
}

namespace {

constexpr uint64_t kTceRead = 0x1;   // TCE_PCI_READ: the device may read the page
constexpr uint64_t kTceWrite = 0x2;  // TCE_PCI_WRITE: the device may write it
constexpr uint64_t kTcePerms = kTceRead | kTceWrite;
constexpr uint64_t kOpMap = 1;
constexpr uint64_t kOpUnmap = 2;

uint32_t MapFlags(uint64_t tce) {
  return ((tce & kTceRead) ? VFIO_DMA_MAP_FLAG_READ : 0) |
         ((tce & kTceWrite) ? VFIO_DMA_MAP_FLAG_WRITE : 0);
}

// The ioctl's failure: its result (-1 or the kernel's positive return) and errno.
struct IoctlFailure {
  int rc = 0;
  int err = 0;
  const char* name = nullptr;
  bool failed() const { return name != nullptr; }
};

IoctlFailure Issue(GuestTable& table, int fd, uint64_t op, uint64_t iova, uint64_t size,
                   uint64_t vaddr, uint32_t flags) {
  if (fd < 0) {
    table.recorded.insert(table.recorded.end(), {op, iova, size, vaddr, flags});
    return {};
  }
  int rc = op == kOpMap ? MapDmaRaw(fd, vaddr, iova, size, flags) : UnmapDmaRaw(fd, iova, size);
  if (rc == 0) return {};
  return IoctlFailure{rc, rc < 0 ? errno : 0,
                      op == kOpMap ? "VFIO_IOMMU_MAP_DMA" : "VFIO_IOMMU_UNMAP_DMA"};
}

}  // namespace

Refusal CheckIobaRange(const GuestTable& table, uint64_t ioba, uint64_t count) {
  if ((ioba & (table.pageSize - 1)) != 0) return Refusal::kIobaMisaligned;
  if (ioba < table.start) return Refusal::kIobaOutsideWindow;
  uint64_t first = (ioba - table.start) >> table.pageShift;
  uint64_t entries = table.shadow.entries();
  if (first >= entries || count > entries - first) return Refusal::kIobaOutsideWindow;
  return Refusal::kNone;
}

Refusal CheckTce(GuestTable& table, uint64_t tce, GuestSlot** slotOut, uint64_t* hostOut) {
  if ((tce & kTcePerms) == 0) return Refusal::kNone;  // a clear: any address will do
  uint64_t gpa = tce & ~kTcePerms;
  if ((gpa & (table.pageSize - 1)) != 0) return Refusal::kGpaMisaligned;
  GuestSlot* slot = table.memory->Find(gpa);
  if (slot == nullptr) return Refusal::kGpaOutsideSlots;
  if (table.pageSize > slot->size - (gpa - slot->gpa)) return Refusal::kGpaCrossesSlotEnd;
  uint64_t host = slot->host + (gpa - slot->gpa);
  if (slot->backingPageSize < table.pageSize || (host & (table.pageSize - 1)) != 0) {
    return Refusal::kBackingPage;
  }
  *slotOut = slot;
  *hostOut = host;
  return Refusal::kNone;
}

// Records that entry `index` now holds `tce` (in `slot` when live), moving the slots' counts
// of live entries.
static void Commit(GuestTable& table, uint64_t index, uint64_t tce, GuestSlot* slot) {
  uint64_t old = table.shadow.Get(index);
  if (old & kTcePerms) {
    GuestSlot* oldSlot = table.memory->Find(old & ~kTcePerms);
    if (oldSlot != nullptr) oldSlot->users -= 1;
    table.live -= 1;
  }
  if (slot != nullptr) {
    slot->users += 1;
    table.live += 1;
  }
  table.shadow.Set(index, tce);
}

namespace {

// A checked entry of a batch: the TCE, and for a live one its host address and slot. Trivial,
// so that a batch's array on the stack costs nothing until its entries are checked.
struct Checked {
  uint64_t tce;
  uint64_t host;
  GuestSlot* slot;
};

// The entries of a batch, each checked once: a list (at most 512) on the stack, or one value
// for every entry (H_STUFF_TCE, any count).
class CheckedBatch {
 public:
  CheckedBatch(GuestTable& table, const TceSource& source, uint64_t count)
      : uniform_(source.uniform) {
    valid_ = uniform_ ? (Check(table, source.At(0), &one_) ? count : 0) : 0;
    if (uniform_) return;
    for (uint64_t i = 0; i < count && i < kMax; ++i) {
      if (!Check(table, source.At(i), &entries_[i])) return;
      valid_ = i + 1;
    }
  }
  // Entries [0, valid()) passed; valid() < count: entry valid() was refused for refusal().
  uint64_t valid() const { return valid_; }
  Refusal refusal() const { return refusal_; }
  const Checked& operator[](uint64_t i) const { return uniform_ ? one_ : entries_[i]; }

  static constexpr uint64_t kMax = 512;

 private:
  bool Check(GuestTable& table, uint64_t tce, Checked* entry) {
    entry->tce = tce;
    entry->host = 0;
    entry->slot = nullptr;
    refusal_ = CheckTce(table, tce, &entry->slot, &entry->host);
    return refusal_ == Refusal::kNone;
  }

  bool uniform_;
  uint64_t valid_ = 0;
  Refusal refusal_ = Refusal::kNone;
  Checked one_{0, 0, nullptr};
  Checked entries_[kMax];
};

}  // namespace

BatchOutcome ApplyBatch(GuestTable& table, int fd, uint64_t ioba, const TceSource& source,
                        uint64_t count) {
  BatchOutcome outcome;
  const uint64_t first = (ioba - table.start) >> table.pageShift;
  const uint64_t page = table.pageSize;
  // Every entry is checked before any ioctl; the ones before a refused entry are done.
  const CheckedBatch batch(table, source, count);
  const uint64_t valid = batch.valid();
  if (valid < count) {
    outcome.refusal = batch.refusal();
    outcome.index = valid;
  }
  uint64_t i = 0;
  while (i < valid) {
    const Checked& entry = batch[i];
    const uint64_t perms = entry.tce & kTcePerms;
    uint64_t j = i + 1;
    IoctlFailure failure;
    if (perms == 0) {
      if ((table.shadow.Get(first + i) & kTcePerms) == 0) {
        table.shadow.Set(first + i,
                         entry.tce);  // clearing a clear entry: nothing to ask the kernel
        i = j;
        continue;
      }
      while (j < valid && (batch[j].tce & kTcePerms) == 0 &&
             (table.shadow.Get(first + j) & kTcePerms) != 0) {
        ++j;
      }
      failure = Issue(table, fd, kOpUnmap, table.start + (first + i) * page, (j - i) * page, 0, 0);
    } else {
      // A run: the next entries with the same permissions on the next host pages, one MAP.
      while (j < valid && (batch[j].tce & kTcePerms) == perms &&
             batch[j].host == entry.host + (j - i) * page) {
        ++j;
      }
      failure = Issue(table, fd, kOpMap, table.start + (first + i) * page, (j - i) * page,
                      entry.host, MapFlags(entry.tce));
    }
    if (failure.failed()) {
      if (perms != 0) {
        // The kernel cleared the pages of the run it had built; the rest may still hold the
        // old translations. Clear the whole run, so the books and the device agree.
        Issue(table, fd, kOpUnmap, table.start + (first + i) * page, (j - i) * page, 0, 0);
        for (uint64_t k = i; k < j; ++k) Commit(table, first + k, 0, nullptr);
      }
      outcome.kernelResult = failure.rc;
      outcome.kernelErrno = failure.err;
      outcome.ioctl = failure.name;
      outcome.index = i;
      outcome.refusal = Refusal::kNone;
      return outcome;
    }
    for (uint64_t k = i; k < j; ++k) Commit(table, first + k, batch[k].tce, batch[k].slot);
    i = j;
  }
  return outcome;
}

// Calls run(first index, count, first TCE) for each run of live entries that `continues`
// (previous TCE, TCE, whether the index follows the run) lets grow.
template <class Continues, class Run>
static void ForEachLiveRun(const GuestTable& table, Continues continues, Run run) {
  uint64_t runFirst = 0, runCount = 0, runTce = 0, lastTce = 0;
  table.shadow.ForEachSet([&](uint64_t index, uint64_t tce) {
    if ((tce & kTcePerms) == 0) return;
    if (runCount > 0 && continues(lastTce, tce, index == runFirst + runCount)) {
      runCount += 1;
      lastTce = tce;
      return;
    }
    if (runCount > 0) run(runFirst, runCount, runTce);
    runFirst = index;
    runCount = 1;
    runTce = lastTce = tce;
  });
  if (runCount > 0) run(runFirst, runCount, runTce);
}

int ClearTable(GuestTable& table, int fd, const char** ioctlName) {
  int err = 0;
  ForEachLiveRun(
      table, [](uint64_t, uint64_t, bool adjacent) { return adjacent; },
      [&](uint64_t index, uint64_t count, uint64_t) {
        IoctlFailure f = Issue(table, fd, kOpUnmap, table.start + index * table.pageSize,
                               count * table.pageSize, 0, 0);
        if (f.failed() && err == 0) {
          err = f.err != 0 ? f.err : EINVAL;
          *ioctlName = f.name;
        }
      });
  table.shadow.ForEachSet([&](uint64_t index, uint64_t) { Commit(table, index, 0, nullptr); });
  table.shadow.Clear();
  return err;
}

int ReinstallTable(GuestTable& table, int fd, const char** ioctlName) {
  int err = 0;
  auto hostOf = [&](uint64_t tce) {
    GuestSlot* slot = nullptr;
    uint64_t host = 0;
    CheckTce(table, tce, &slot, &host);
    return host;
  };
  ForEachLiveRun(
      table,
      [&](uint64_t last, uint64_t tce, bool adjacent) {
        return adjacent && (tce & kTcePerms) == (last & kTcePerms) &&
               hostOf(tce) == hostOf(last) + table.pageSize;
      },
      [&](uint64_t index, uint64_t count, uint64_t tce) {
        if (err != 0) return;
        IoctlFailure f = Issue(table, fd, kOpMap, table.start + index * table.pageSize,
                               count * table.pageSize, hostOf(tce), MapFlags(tce));
        if (f.failed()) {
          err = f.rc < 0 ? f.err : EINVAL;
          *ioctlName = f.name;
        }
      });
  return err;
}

}  // namespace vfio

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

// Records that entry `index` now holds `tce`, moving the slots' counts of live entries.
static void Commit(GuestTable& table, uint64_t index, uint64_t tce) {
  uint64_t old = table.shadow.Get(index);
  if (old & kTcePerms) {
    GuestSlot* slot = table.memory->Find(old & ~kTcePerms);
    if (slot != nullptr) slot->users -= 1;
    table.live -= 1;
  }
  if (tce & kTcePerms) {
    GuestSlot* slot = table.memory->Find(tce & ~kTcePerms);
    if (slot != nullptr) slot->users += 1;
    table.live += 1;
  }
  table.shadow.Set(index, tce);
}

BatchOutcome ApplyBatch(GuestTable& table, int fd, uint64_t ioba, const TceSource& source,
                        uint64_t count) {
  BatchOutcome outcome;
  const uint64_t first = (ioba - table.start) >> table.pageShift;
  // Every entry is checked before any ioctl; the ones before a refused entry are done.
  uint64_t valid = count;
  for (uint64_t i = 0; i < count; ++i) {
    GuestSlot* slot = nullptr;
    uint64_t host = 0;
    Refusal refusal = CheckTce(table, source.At(i), &slot, &host);
    if (refusal != Refusal::kNone) {
      outcome.refusal = refusal;
      outcome.index = i;
      valid = i;
      break;
    }
    if (source.uniform) break;  // one value: one check
  }
  if (source.uniform && outcome.refusal != Refusal::kNone) return outcome;

  uint64_t i = 0;
  while (i < valid) {
    const uint64_t tce = source.At(i);
    const uint64_t perms = tce & kTcePerms;
    uint64_t j = i + 1;
    IoctlFailure failure;
    if (perms == 0) {
      if ((table.shadow.Get(first + i) & kTcePerms) == 0) {
        Commit(table, first + i, tce);  // clearing a clear entry: nothing to ask the kernel
        i = j;
        continue;
      }
      while (j < valid && (source.At(j) & kTcePerms) == 0 &&
             (table.shadow.Get(first + j) & kTcePerms) != 0) {
        ++j;
      }
      failure = Issue(table, fd, kOpUnmap, table.start + (first + i) * table.pageSize,
                      (j - i) * table.pageSize, 0, 0);
    } else {
      GuestSlot* slot = nullptr;
      uint64_t host = 0;
      CheckTce(table, tce, &slot, &host);
      uint64_t next = host + table.pageSize;
      while (j < valid) {
        const uint64_t other = source.At(j);
        GuestSlot* s = nullptr;
        uint64_t h = 0;
        if ((other & kTcePerms) != perms || CheckTce(table, other, &s, &h) != Refusal::kNone ||
            h != next) {
          break;
        }
        next += table.pageSize;
        ++j;
      }
      failure = Issue(table, fd, kOpMap, table.start + (first + i) * table.pageSize,
                      (j - i) * table.pageSize, host, MapFlags(tce));
    }
    if (failure.failed()) {
      if (perms != 0) {
        // The kernel cleared the pages of the run it had built; the rest may still hold the
        // old translations. Clear the whole run, so the books and the device agree.
        Issue(table, fd, kOpUnmap, table.start + (first + i) * table.pageSize,
              (j - i) * table.pageSize, 0, 0);
        for (uint64_t k = i; k < j; ++k) Commit(table, first + k, 0);
      }
      outcome.kernelResult = failure.rc;
      outcome.kernelErrno = failure.err;
      outcome.ioctl = failure.name;
      outcome.index = i;
      outcome.refusal = Refusal::kNone;
      return outcome;
    }
    for (uint64_t k = i; k < j; ++k) Commit(table, first + k, source.At(k));
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
  table.shadow.ForEachSet([&](uint64_t index, uint64_t) { Commit(table, index, 0); });
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

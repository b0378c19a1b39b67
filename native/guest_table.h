// A guest TCE table served on the host: the semantics of the guest's TCE hypercalls
// (H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE, H_GET_TCE) over one DMA window, kept in a
// TceShadow and carried out as VFIO_IOMMU_MAP_DMA / UNMAP_DMA on memory the container has
// registered. The one place of the addon with rules (design.md, "the guest side"): a batch
// crosses into the addon once, is checked entry by entry here, and contiguous runs become one
// ioctl, which per-entry checks in JavaScript under emulation could not afford.
//
// Rules, in the order the hypercalls apply them (KVM's book3s_64_vio.c, QEMU's spapr_iommu.c):
//   - the IOBA range [ioba, ioba + n pages) must be page aligned and inside the window, else
//     nothing is done;
//   - each TCE with permission bits (TCE_PCI_READ 1, TCE_PCI_WRITE 2) names a guest-physical
//     page aligned to the window's page, inside one slot, whose host memory is backed by pages
//     at least that large; a TCE without them clears the entry (a no-op when it is clear);
//   - the entries before the first refused one are done, as the hypercall does them; a live
//     entry is replaced by a MAP over it (the kernel swaps the translation per page: the
//     device never sees neither).
#ifndef VFIO_SPAPR_GUEST_TABLE_H_
#define VFIO_SPAPR_GUEST_TABLE_H_

#include <napi.h>
#include <stdint.h>

#include <memory>
#include <vector>

#include "guest_memory.h"
#include "tce_shadow.h"

namespace vfio {

// Why the guest's request is refused: each maps to H_PARAMETER (or H_HARDWARE, kBackingPage)
// in lib/guest. The names travel to JS as the error's `reason`.
enum class Refusal {
  kNone,
  kIobaMisaligned,
  kIobaOutsideWindow,
  kGpaMisaligned,
  kGpaOutsideSlots,
  kGpaCrossesSlotEnd,
  kBackingPage,
  kTooManyEntries,
  kListShort,
  kListMisaligned,
  kListOutsideSlots,
};

const char* RefusalName(Refusal refusal);

struct GuestTable {
  GuestTable(std::shared_ptr<GuestMemory> memory, uint64_t start, unsigned pageShift,
             uint64_t entries)
      : memory(std::move(memory)),
        start(start),
        pageShift(pageShift),
        pageSize(uint64_t{1} << pageShift),
        shadow(entries) {}

  std::shared_ptr<GuestMemory> memory;
  const uint64_t start;
  const unsigned pageShift;
  const uint64_t pageSize;
  TceShadow shadow;
  uint64_t live = 0;  // entries with permission bits
  // With no container fd (-1), the ioctls are recorded here instead: (op, iova, size, vaddr,
  // flags) per call, op 1 MAP, 2 UNMAP. The host tests' fake kernel replays them.
  std::vector<uint64_t> recorded;
};

void InitGuestTable(Napi::Env env, Napi::Object exports);

}  // namespace vfio

#endif  // VFIO_SPAPR_GUEST_TABLE_H_

// The operations of a guest TCE table (guest_table.cc), apart from their N-API bindings.
#ifndef VFIO_SPAPR_GUEST_TABLE_OPS_H_
#define VFIO_SPAPR_GUEST_TABLE_OPS_H_

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "guest_table.h"

namespace vfio {

// Where a batch's TCEs come from: a host-order list, the guest's own big-endian list (in its
// RAM, read in place), or one value for every entry.
struct TceSource {
  const uint64_t* host = nullptr;
  const uint8_t* bigEndian = nullptr;
  uint64_t value = 0;
  bool uniform = false;  // H_STUFF_TCE: `value` for every entry, checked once

  uint64_t At(uint64_t i) const {
    if (host != nullptr) return host[i];
    if (bigEndian != nullptr) {
      uint64_t raw;
      memcpy(&raw, bigEndian + i * 8, sizeof raw);
      return be64toh(raw);
    }
    return value;
  }
};

struct BatchOutcome {
  // A refused entry (the ones before it were done), or kNone.
  Refusal refusal = Refusal::kNone;
  // The refused entry, or the first entry of the run the kernel refused.
  uint64_t index = 0;
  // The kernel's refusal: ioctl is set, with its result (-1 or a positive return) and errno.
  const char* ioctl = nullptr;
  int kernelResult = 0;
  int kernelErrno = 0;
};

// Whether [ioba, ioba + count pages) is page aligned and inside the window.
Refusal CheckIobaRange(const GuestTable& table, uint64_t ioba, uint64_t count);
// Whether one TCE may be put; for a live one, its slot and host address.
Refusal CheckTce(GuestTable& table, uint64_t tce, GuestSlot** slot, uint64_t* host);
// Puts `count` TCEs from `source` at ioba (a range CheckIobaRange allowed).
BatchOutcome ApplyBatch(GuestTable& table, int fd, uint64_t ioba, const TceSource& source,
                        uint64_t count);
// Unmaps every live entry and forgets the table's contents; returns an errno (0: done).
int ClearTable(GuestTable& table, int fd, const char** ioctlName);
// Maps every live entry again (after a group left the container); returns an errno.
int ReinstallTable(GuestTable& table, int fd, const char** ioctlName);

}  // namespace vfio

#endif  // VFIO_SPAPR_GUEST_TABLE_OPS_H_

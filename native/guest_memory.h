// A VMM's guest RAM as the guest TCE tables see it: slots of guest-physical addresses, each
// backed by host memory that is registered with the container (the registration itself is
// made through registerMemory, by the library). Bookkeeping only: no syscall here.
//
// Each slot counts the live guest TCEs that point into it (across every table of the
// guest), so that a slot is never removed while the device may still reach its memory.
#ifndef VFIO_SPAPR_GUEST_MEMORY_H_
#define VFIO_SPAPR_GUEST_MEMORY_H_

#include <napi.h>
#include <stdint.h>

#include <memory>
#include <vector>

namespace vfio {

struct GuestSlot {
  uint32_t id;
  uint64_t gpa;
  uint64_t size;
  uint64_t host;             // host virtual address of gpa
  uint64_t backingPageSize;  // the page size behind the host memory
  uint64_t users;            // live guest TCEs pointing into the slot
};

class GuestMemory {
 public:
  // Adds [gpa, gpa+size) at host; false when it overlaps a slot (nothing added).
  bool Add(uint64_t gpa, uint64_t size, uint64_t host, uint64_t backingPageSize, uint32_t* id);
  // The slot holding gpa, or nullptr.
  GuestSlot* Find(uint64_t gpa);
  GuestSlot* ById(uint32_t id);
  // Removes a slot nothing points into; false (nothing removed) while it has users.
  bool Remove(uint32_t id);

 private:
  std::vector<GuestSlot> slots_;  // sorted by gpa, never overlapping
  uint32_t nextId_ = 1;
  size_t lastHit_ = 0;  // batches mostly point into the slot of the entry before
};

// The GuestMemory behind a value made by guestMemoryCreate; throws a TypeError otherwise.
std::shared_ptr<GuestMemory> ArgGuestMemory(const Napi::CallbackInfo& info, size_t i);

void InitGuestMemory(Napi::Env env, Napi::Object exports);

}  // namespace vfio

#endif  // VFIO_SPAPR_GUEST_MEMORY_H_

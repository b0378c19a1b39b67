// An mmap'd block handed to JS as an external ArrayBuffer, and how to find it again.
//
// Ownership: the Mapping (address, length, optional fd) is shared by
//   - the ArrayBuffer's backing store: its finalizer unmaps (and closes the fd) unless
//     the mapping was already released, and
//   - a napi_wrap on the ArrayBuffer object, which lets freeBuffer/unmapRegion find
//     the Mapping again from the JS object, guarded by a type tag so that a buffer
//     from elsewhere (or from another kind of mapping) is never mistaken for ours.
// Release() is idempotent (atomic flag), so explicit free, GC and environment
// teardown can race in any order without a double munmap. No per-instance or global
// table is needed, which keeps the addon context-aware.
#ifndef VFIO_SPAPR_MAPPING_H_
#define VFIO_SPAPR_MAPPING_H_

#include <napi.h>
#include <stddef.h>

#include <atomic>
#include <memory>

namespace vfio {

struct Mapping {
  void* addr = nullptr;
  size_t length = 0;
  int fd = -1;           // closed on release (memfd), -1 when none
  bool writable = true;  // false: PROT_READ only
  std::atomic<bool> released{false};

  // munmap + close once; returns false when it was already released.
  bool Release();
  ~Mapping() { Release(); }
};

// Type tags telling allocBuffer's blocks from mmapRegion's mappings.
extern const napi_type_tag kBufferTag;
extern const napi_type_tag kRegionTag;

// Wraps an mmap'd block as an external ArrayBuffer tagged with tag. On failure the
// mapping is released and the error thrown.
Napi::ArrayBuffer WrapMapping(Napi::Env env, std::shared_ptr<Mapping> mapping,
                              const napi_type_tag* tag);

// The Mapping behind buffer if it carries tag, else nullptr.
std::shared_ptr<Mapping> FindMapping(Napi::Env env, Napi::ArrayBuffer buffer,
                                     const napi_type_tag* tag);

// Detaches buffer (so no JS view outlives the mapping), then unmaps. Throws a TypeError
// (ERR_INVALID_ARG_VALUE) when buffer is not a live mapping of this kind; what is
// the kind's name for the message ('allocBuffer', 'mmapRegion').
void DetachAndRelease(Napi::Env env, Napi::ArrayBuffer buffer, const napi_type_tag* tag,
                      const char* what);

}  // namespace vfio

#endif  // VFIO_SPAPR_MAPPING_H_

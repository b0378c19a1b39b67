// The process's pre-registered memory, as the kernel keeps it: one list per mm, shared by every
// container and every thread of the process (mm_iommu_* in arch/powerpc/mm/book3s64/iommu_api.c).
// A range registered again with exactly the same address and size is shared (a holder more, no
// new charge); any other overlap is refused (EINVAL). The library books each kernel-level
// registration here before its ioctl, so that a refusal comes before the kernel pins anything
// and the locked-memory prediction knows what the kernel will really charge.
//
// Deliberately process-wide state (the rest of the addon keeps none): worker_threads share the
// mm, so they must share this list. A mutex guards it; a forked child starts with an empty one,
// as its new mm does.
#include <pthread.h>
#include <stdint.h>

#include <map>
#include <mutex>
#include <new>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace vfio {
namespace {

struct Registration {
  uint64_t size;
  uint32_t holders;
  bool pending;  // booked, its REGISTER_MEMORY not yet returned: not in VmLck yet
};

std::mutex& Lock() {
  static std::mutex mutex;
  return mutex;
}

// By start address; registrations never overlap.
std::map<uint64_t, Registration>& Registrations() {
  static std::map<uint64_t, Registration> registrations;
  return registrations;
}

void ForgetInChild() {
  // The child's mm has no registrations. Only this thread exists in the child: the mutex may
  // have been held by another thread of the parent at fork, so it is not taken here.
  new (&Lock()) std::mutex();
  Registrations().clear();
}

// The registration overlapping [address, address+size), if any.
std::map<uint64_t, Registration>::iterator Overlapping(uint64_t address, uint64_t size) {
  auto& all = Registrations();
  auto next = all.lower_bound(address);
  if (next != all.end() && next->first - address < size) return next;
  if (next != all.begin()) {
    auto previous = std::prev(next);
    if (address - previous->first < previous->second.size) return previous;
  }
  return all.end();
}

// Books [address, address+size) before its REGISTER_MEMORY: returns how many holders it had
// (0: new, the kernel will pin and charge it; more: an identical range, shared at no charge).
// An overlap that is not identical throws ERR_VFIO_NATIVE_REGISTRATION_OVERLAP with the
// registered range as conflictAddress and conflictSize.
Napi::Value Acquire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = ArgU64(info, 0, "address");
  uint64_t size = ArgU64(info, 1, "size");
  if (size == 0 || address + size < address) {
    ThrowArgRange(env, "The range must be non-empty and must not wrap past 2^64");
  }
  std::lock_guard<std::mutex> guard(Lock());
  auto clash = Overlapping(address, size);
  if (clash == Registrations().end()) {
    Registrations()[address] = Registration{size, 1, true};
    return Napi::Number::New(env, 0);
  }
  if (clash->first == address && clash->second.size == size) {
    uint32_t before = clash->second.holders;
    clash->second.holders += 1;
    return Napi::Number::New(env, before);
  }
  Napi::Error error = Napi::Error::New(env, "the range overlaps memory this process registered");
  error.Value().Set("code", Napi::String::New(env, "ERR_VFIO_NATIVE_REGISTRATION_OVERLAP"));
  error.Value().Set("conflictAddress", Napi::BigInt::New(env, clash->first));
  error.Value().Set("conflictSize", Napi::BigInt::New(env, clash->second.size));
  throw error;
}

// The kernel accepted the registration of exactly [address, address+size): it is in VmLck.
Napi::Value Confirm(const Napi::CallbackInfo& info) {
  uint64_t address = ArgU64(info, 0, "address");
  uint64_t size = ArgU64(info, 1, "size");
  std::lock_guard<std::mutex> guard(Lock());
  auto found = Registrations().find(address);
  if (found != Registrations().end() && found->second.size == size) found->second.pending = false;
  return info.Env().Undefined();
}

// Bytes booked by registrations whose ioctl has not returned, on any thread: what VmLck does
// not show yet.
Napi::Value PendingBytes(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(Lock());
  uint64_t bytes = 0;
  for (const auto& entry : Registrations()) {
    if (entry.second.pending) bytes += entry.second.size;
  }
  return Napi::BigInt::New(info.Env(), bytes);
}

// Drops a holder of exactly [address, address+size) after its UNREGISTER_MEMORY (or a
// REGISTER_MEMORY that failed): returns the holders left (0: the kernel unpinned it), or -1
// when no such registration is booked.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = ArgU64(info, 0, "address");
  uint64_t size = ArgU64(info, 1, "size");
  std::lock_guard<std::mutex> guard(Lock());
  auto found = Registrations().find(address);
  if (found == Registrations().end() || found->second.size != size) {
    return Napi::Number::New(env, -1);
  }
  uint32_t left = found->second.holders - 1;
  if (left == 0) {
    Registrations().erase(found);
  } else {
    found->second.holders = left;
  }
  return Napi::Number::New(env, left);
}

}  // namespace

void InitRegistry(Napi::Env env, Napi::Object exports) {
  static const bool atfork_registered = pthread_atfork(nullptr, nullptr, ForgetInChild) == 0;
  if (!atfork_registered) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_ATFORK", "pthread_atfork failed");
  }
  exports.Set("registryAcquire", Napi::Function::New(env, Acquire, "registryAcquire"));
  exports.Set("registryRelease", Napi::Function::New(env, Release, "registryRelease"));
  exports.Set("registryConfirm", Napi::Function::New(env, Confirm, "registryConfirm"));
  exports.Set("registryPendingBytes",
              Napi::Function::New(env, PendingBytes, "registryPendingBytes"));
}

}  // namespace vfio

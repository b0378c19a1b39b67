#include "mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"

namespace vfio {

// Random 128-bit tags (constant data, not mutable state).
const napi_type_tag kBufferTag = {0x5bd3a1f0c2e84d17ULL, 0x9a6e3c1b7f0d2e45ULL};
const napi_type_tag kRegionTag = {0x1c7e9b24d5a04f83ULL, 0xb28f6d3e0a91c756ULL};

bool Mapping::Release() {
  if (released.exchange(true)) return false;
  if (addr != nullptr && addr != MAP_FAILED) munmap(addr, length);
  if (fd >= 0) close(fd);
  return true;
}

namespace {

using Ref = std::shared_ptr<Mapping>;

void FinalizeBacking(Napi::Env /*env*/, void* /*data*/, Ref* ref) {
  (*ref)->Release();
  delete ref;
}

void FinalizeWrap(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<Ref*>(data); }

}  // namespace

Napi::ArrayBuffer WrapMapping(Napi::Env env, std::shared_ptr<Mapping> mapping,
                              const napi_type_tag* tag) {
  Ref* backingRef = new Ref(mapping);
  Napi::ArrayBuffer buffer;
  try {
    buffer =
        Napi::ArrayBuffer::New(env, mapping->addr, mapping->length, FinalizeBacking, backingRef);
  } catch (...) {
    delete backingRef;
    mapping->Release();
    throw;
  }
  // From here on the backing store owns one reference and releases it on GC.
  Ref* wrapRef = new Ref(mapping);
  napi_status status = napi_wrap(env, buffer, wrapRef, FinalizeWrap, nullptr, nullptr);
  if (status != napi_ok) delete wrapRef;
  if (status == napi_ok) status = napi_type_tag_object(env, buffer, tag);
  if (status != napi_ok) {
    buffer.Detach();
    mapping->Release();
    ThrowNativeError(env, "ERR_VFIO_NATIVE_WRAP",
                     "could not tag the mapping's ArrayBuffer (napi status " +
                         std::to_string(static_cast<int>(status)) + ")");
  }
  return buffer;
}

std::shared_ptr<Mapping> FindMapping(Napi::Env env, Napi::ArrayBuffer buffer,
                                     const napi_type_tag* tag) {
  bool tagged = false;
  if (napi_check_object_type_tag(env, buffer, tag, &tagged) != napi_ok || !tagged) {
    return nullptr;
  }
  void* data = nullptr;
  if (napi_unwrap(env, buffer, &data) != napi_ok || data == nullptr) return nullptr;
  return *static_cast<Ref*>(data);
}

void DetachAndRelease(Napi::Env env, Napi::ArrayBuffer buffer, const napi_type_tag* tag,
                      const char* what) {
  std::shared_ptr<Mapping> mapping = FindMapping(env, buffer, tag);
  if (!mapping) {
    ThrowArgValue(env,
                  std::string("The \"buffer\" argument is not an ArrayBuffer returned by ") + what);
  }
  if (buffer.IsDetached() || mapping->released.load()) {
    ThrowArgValue(env, std::string("The \"buffer\" argument was already released (or "
                                   "transferred): ") +
                           what + " memory can be released once");
  }
  if (buffer.Data() != mapping->addr) {
    ThrowArgValue(env, "The \"buffer\" argument no longer owns its mapping");
  }
  // Detach first: should the backing store's finalizer run at once, Release() below is
  // a no-op and nothing is unmapped twice.
  buffer.Detach();
  mapping->Release();
}

}  // namespace vfio

// DMA memory the library owns: mmap'd blocks (anonymous, shared, hugetlb, memfd) handed
// to JS as external ArrayBuffers, freed explicitly (detached) or by the GC.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "mapping.h"
#include "procfs.h"

namespace vfio {
namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

size_t SystemPageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// Hugepagesize from /proc/meminfo in bytes, 0 when absent.
uint64_t DefaultHugePageSize(Napi::Env env) {
  std::string text = ReadProcFile(env, "/proc/meminfo");
  std::string value;
  if (!ProcField(text, "Hugepagesize", &value)) return 0;
  char* end = nullptr;
  errno = 0;
  unsigned long long kb = strtoull(value.c_str(), &end, 10);
  if (errno != 0 || end == value.c_str()) return 0;
  return static_cast<uint64_t>(kb) * 1024;
}

// MAX_PAGE_ORDER: /proc/buddyinfo counts free blocks in one column per order from 0, so the
// first zone line's column count less one. -1 when the file cannot be read or parsed.
int MaxPageOrder() {
  FILE* file = fopen("/proc/buddyinfo", "re");
  if (file == nullptr) return -1;
  char line[1024];
  const bool read = fgets(line, sizeof line, file) != nullptr;
  fclose(file);
  if (!read) return -1;
  // "Node 0, zone   Normal     14     11      8 ..."
  const char* cursor = strstr(line, "zone");
  if (cursor == nullptr) return -1;
  cursor += 4;
  while (*cursor == ' ' || *cursor == '\t') cursor++;
  while (*cursor != '\0' && *cursor != ' ' && *cursor != '\t') cursor++;  // the zone's name
  int columns = 0;
  for (;;) {
    char* end = nullptr;
    strtoull(cursor, &end, 10);
    if (end == cursor) break;
    columns++;
    cursor = end;
  }
  return columns - 1;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

int Log2(uint64_t v) { return 63 - __builtin_clzll(v); }

Napi::Value AllocBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t size = ArgInteger(info, 0, "size", 1, static_cast<int64_t>(kMaxSafe));
  const std::string backing = ArgString(info, 1, "backing");
  const bool hugetlb = backing == "hugetlb";
  if (backing != "anonymous" && backing != "shared" && !hugetlb && backing != "memfd") {
    ThrowArgValue(env,
                  "The \"backing\" argument must be one of 'anonymous', 'shared', "
                  "'hugetlb', 'memfd'. Received '" +
                      backing + "'");
  }
  uint64_t hugePage = 0;
  if (!IsMissing(info, 2)) {
    if (!hugetlb) {
      ThrowArgValue(env, "The \"hugePageSize\" argument applies to the 'hugetlb' backing only");
    }
    hugePage = static_cast<uint64_t>(
        ArgInteger(info, 2, "hugePageSize", 1, static_cast<int64_t>(kMaxSafe)));
    if (!IsPowerOfTwo(hugePage) || hugePage < SystemPageSize() ||
        Log2(hugePage) > static_cast<int>(MAP_HUGE_MASK)) {
      ThrowArgRange(env,
                    "The \"hugePageSize\" argument must be a power of two, at least the "
                    "page size. Received " +
                        std::to_string(hugePage));
    }
  }
  uint64_t granule = SystemPageSize();
  if (hugetlb) {
    granule = hugePage != 0 ? hugePage : DefaultHugePageSize(env);
    if (granule == 0) granule = SystemPageSize();
  }
  if (static_cast<uint64_t>(size) % granule != 0) {
    ThrowArgRange(env, "The \"size\" argument must be a multiple of " + std::to_string(granule) +
                           (hugetlb ? " (the huge page size)" : " (the page size)") +
                           ". Received " + std::to_string(size));
  }

  auto mapping = std::make_shared<Mapping>();
  mapping->length = static_cast<size_t>(size);
  int flags = MAP_ANONYMOUS;
  if (backing == "anonymous") {
    flags = MAP_PRIVATE | MAP_ANONYMOUS;
  } else if (backing == "shared") {
    flags = MAP_SHARED | MAP_ANONYMOUS;
  } else if (hugetlb) {
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
    if (hugePage != 0) flags |= Log2(hugePage) << MAP_HUGE_SHIFT;
  } else {  // memfd
    mapping->fd = memfd_create("vfio-spapr", MFD_CLOEXEC);
    if (mapping->fd < 0) ThrowSystemError(env, errno, "memfd_create");
    int rc;
    do {
      rc = ftruncate(mapping->fd, static_cast<off_t>(size));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      int err = errno;
      mapping->Release();
      ThrowSystemError(env, err, "ftruncate");
    }
    flags = MAP_SHARED;
  }
  void* addr = mmap(nullptr, mapping->length, PROT_READ | PROT_WRITE, flags, mapping->fd, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    mapping->Release();
    ThrowSystemError(env, err, "mmap");
  }
  mapping->addr = addr;

  Napi::ArrayBuffer buffer = WrapMapping(env, mapping, &kBufferTag);
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("address",
             Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(addr))));
  result.Set("fd", Napi::Number::New(env, mapping->fd));
  return result;
}

Napi::Value FreeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    ThrowArgType(
        env, "The \"buffer\" argument must be an instance of ArrayBuffer. " + Describe(info[0]));
  }
  DetachAndRelease(env, info[0].As<Napi::ArrayBuffer>(), &kBufferTag, "allocBuffer");
  return env.Undefined();
}

Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = ArgArrayBuffer(info, 0, "buffer");
  return Napi::BigInt::New(info.Env(),
                           static_cast<uint64_t>(reinterpret_cast<uintptr_t>(buffer.Data())));
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(SystemPageSize()));
}

Napi::Value HugePageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(DefaultHugePageSize(info.Env())));
}

Napi::Value MaxPageOrderValue(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), MaxPageOrder());
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("allocBuffer", Napi::Function::New(env, AllocBuffer, "allocBuffer"));
  exports.Set("freeBuffer", Napi::Function::New(env, FreeBuffer, "freeBuffer"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  exports.Set("hugePageSize", Napi::Function::New(env, HugePageSize, "hugePageSize"));
  exports.Set("maxPageOrder", Napi::Function::New(env, MaxPageOrderValue, "maxPageOrder"));
}

}  // namespace vfio

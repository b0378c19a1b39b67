// The device fd: info, regions (with their capability chains), region I/O (pread/pwrite) and
// region mmap. Interrupts are irq.cc, resets hot_reset.cc.
#include <errno.h>
#include <linux/vfio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "ioctl.h"
#include "mapping.h"

namespace vfio {
namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1
// Largest region info (with capabilities) we accept from the kernel.
constexpr uint32_t kMaxRegionInfo = 1u << 20;

Napi::Value DeviceGetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct vfio_device_info dev;
  memset(&dev, 0, sizeof dev);
  dev.argsz = sizeof dev;
  VFIO_VOID(env, fd, VFIO_DEVICE_GET_INFO, &dev);
  Napi::Object result = Napi::Object::New(env);
  result.Set("flags", Napi::Number::New(env, dev.flags));
  result.Set("numRegions", Napi::Number::New(env, dev.num_regions));
  result.Set("numIrqs", Napi::Number::New(env, dev.num_irqs));
  return result;
}

template <typename T>
T ReadAt(const std::vector<unsigned char>& bytes, size_t offset) {
  T value;
  memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

Napi::Object UnknownCapability(Napi::Env env, uint16_t id, uint16_t version,
                               const std::vector<unsigned char>& bytes, size_t offset,
                               size_t length) {
  Napi::Object cap = Napi::Object::New(env);
  cap.Set("id", Napi::Number::New(env, id));
  cap.Set("version", Napi::Number::New(env, version));
  cap.Set("kind", Napi::String::New(env, "unknown"));
  Napi::Uint8Array data = Napi::Uint8Array::New(env, length);
  if (length != 0) memcpy(data.Data(), bytes.data() + offset, length);
  cap.Set("data", data);
  return cap;
}

// Walks the capability chain of a region info of `size` valid bytes. Offsets are
// from the start of the info struct; 0 ends the chain. Out-of-bounds offsets end the
// walk; a loop is cut after as many steps as there could be headers.
Napi::Array RegionCapabilities(Napi::Env env, const std::vector<unsigned char>& bytes, size_t size,
                               uint32_t first) {
  Napi::Array caps = Napi::Array::New(env);
  const size_t headerSize = sizeof(struct vfio_info_cap_header);
  const size_t maxSteps = size / headerSize;
  uint32_t offset = first;
  uint32_t count = 0;
  for (size_t step = 0; offset != 0 && step < maxSteps; step++) {
    if (offset < sizeof(struct vfio_region_info) || offset % 4 != 0 ||
        static_cast<size_t>(offset) + headerSize > size) {
      break;
    }
    auto header = ReadAt<struct vfio_info_cap_header>(bytes, offset);
    // This capability's bytes: up to the next one when it follows, else to the end.
    size_t end = size;
    if (header.next > offset && header.next <= size) end = header.next;
    const size_t length = end - offset;
    Napi::Object cap;
    if (header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
        length >= sizeof(struct vfio_region_info_cap_sparse_mmap)) {
      auto sparse = ReadAt<struct vfio_region_info_cap_sparse_mmap>(bytes, offset);
      const size_t areaSize = sizeof(struct vfio_region_sparse_mmap_area);
      const size_t room = (length - sizeof(struct vfio_region_info_cap_sparse_mmap)) / areaSize;
      if (sparse.nr_areas <= room) {
        cap = Napi::Object::New(env);
        cap.Set("id", Napi::Number::New(env, header.id));
        cap.Set("version", Napi::Number::New(env, header.version));
        cap.Set("kind", Napi::String::New(env, "sparse-mmap"));
        Napi::Array areas = Napi::Array::New(env, sparse.nr_areas);
        for (uint32_t i = 0; i < sparse.nr_areas; i++) {
          auto area = ReadAt<struct vfio_region_sparse_mmap_area>(
              bytes, offset + sizeof(struct vfio_region_info_cap_sparse_mmap) + i * areaSize);
          Napi::Object a = Napi::Object::New(env);
          a.Set("offset", Napi::BigInt::New(env, static_cast<uint64_t>(area.offset)));
          a.Set("size", Napi::BigInt::New(env, static_cast<uint64_t>(area.size)));
          areas.Set(i, a);
        }
        cap.Set("areas", areas);
      }
    } else if (header.id == VFIO_REGION_INFO_CAP_TYPE &&
               length >= sizeof(struct vfio_region_info_cap_type)) {
      auto type = ReadAt<struct vfio_region_info_cap_type>(bytes, offset);
      cap = Napi::Object::New(env);
      cap.Set("id", Napi::Number::New(env, header.id));
      cap.Set("version", Napi::Number::New(env, header.version));
      cap.Set("kind", Napi::String::New(env, "type"));
      cap.Set("type", Napi::Number::New(env, type.type));
      cap.Set("subtype", Napi::Number::New(env, type.subtype));
    } else if (header.id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
      cap = Napi::Object::New(env);
      cap.Set("id", Napi::Number::New(env, header.id));
      cap.Set("version", Napi::Number::New(env, header.version));
      cap.Set("kind", Napi::String::New(env, "msix-mappable"));
    }
    if (cap.IsEmpty())
      cap = UnknownCapability(env, header.id, header.version, bytes, offset, length);
    caps.Set(count++, cap);
    offset = header.next;
  }
  return caps;
}

Napi::Value DeviceGetRegionInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t index = ArgU32(info, 1, "index");
  std::vector<unsigned char> bytes(sizeof(struct vfio_region_info), 0);
  struct vfio_region_info region;
  // First with argsz = sizeof; when capabilities do not fit, the kernel raises argsz to
  // the size it needs: ask again with that much room (twice at most, should it grow).
  for (int attempt = 0;; attempt++) {
    memset(bytes.data(), 0, bytes.size());
    memset(&region, 0, sizeof region);
    region.argsz = static_cast<uint32_t>(bytes.size());
    region.index = index;
    memcpy(bytes.data(), &region, sizeof region);
    VFIO_VOID(env, fd, VFIO_DEVICE_GET_REGION_INFO, bytes.data());
    memcpy(&region, bytes.data(), sizeof region);
    if (!(region.flags & VFIO_REGION_INFO_FLAG_CAPS) || region.argsz <= bytes.size() ||
        attempt == 2) {
      break;
    }
    if (region.argsz > kMaxRegionInfo) {
      ThrowNativeError(env, "ERR_VFIO_NATIVE_REGION_INFO_TOO_LARGE",
                       "VFIO_DEVICE_GET_REGION_INFO asks for " + std::to_string(region.argsz) +
                           " bytes of capabilities");
    }
    bytes.assign(region.argsz, 0);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("index", Napi::Number::New(env, region.index));
  result.Set("flags", Napi::Number::New(env, region.flags));
  result.Set("size", Napi::BigInt::New(env, static_cast<uint64_t>(region.size)));
  result.Set("offset", Napi::BigInt::New(env, static_cast<uint64_t>(region.offset)));
  if (region.flags & VFIO_REGION_INFO_FLAG_CAPS) {
    result.Set("capabilities",
               RegionCapabilities(env, bytes, std::min<size_t>(region.argsz, bytes.size()),
                                  region.cap_offset));
  } else {
    result.Set("capabilities", Napi::Array::New(env));
  }
  return result;
}

Napi::Value Pread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Uint8Array target = ArgUint8Array(info, 1, "target");
  off_t offset = static_cast<off_t>(ArgU64Max(info, 2, "offset", INT64_MAX));
  ssize_t n;
  do {
    n = pread(fd, target.Data(), target.ByteLength(), offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowSystemError(env, errno, "pread");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value Pwrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Uint8Array source = ArgUint8Array(info, 1, "source");
  off_t offset = static_cast<off_t>(ArgU64Max(info, 2, "offset", INT64_MAX));
  ssize_t n;
  do {
    n = pwrite(fd, source.Data(), source.ByteLength(), offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowSystemError(env, errno, "pwrite");
  return Napi::Number::New(env, static_cast<double>(n));
}

// Mappings whose pages raise SIGBUS at the first access (the host fuzzer found the first):
// /dev/zero shared at a non-zero offset (its shmem object is only as long as the mapping),
// and a regular file mapped past its end. VFIO device fds (anonymous inodes) are the
// kernel's to check. An fstat that fails is left to mmap, which reports it.
bool MapWouldFault(int fd, off_t offset, int64_t size) {
  char link[64];
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(proc.c_str(), link, sizeof(link) - 1);
  if (n > 0 && std::string(link, static_cast<size_t>(n)).rfind("anon_inode:", 0) == 0) return false;
  struct stat st;
  if (fstat(fd, &st) < 0) return false;
  if (S_ISCHR(st.st_mode)) return st.st_rdev == makedev(1, 5) && offset != 0;
  return S_ISREG(st.st_mode) && (offset >= st.st_size || size > st.st_size - offset);
}

Napi::Value MmapRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  off_t offset = static_cast<off_t>(ArgU64Max(info, 1, "offset", INT64_MAX));
  int64_t size = ArgInteger(info, 2, "size", 1, static_cast<int64_t>(kMaxSafe));
  bool writable = ArgBool(info, 3, "writable");
  if (MapWouldFault(fd, offset, size)) ThrowSystemError(env, EINVAL, "mmap");
  void* addr = mmap(nullptr, static_cast<size_t>(size), PROT_READ | (writable ? PROT_WRITE : 0),
                    MAP_SHARED, fd, offset);
  if (addr == MAP_FAILED) ThrowSystemError(env, errno, "mmap");
  auto mapping = std::make_shared<Mapping>();
  mapping->addr = addr;
  mapping->length = static_cast<size_t>(size);
  mapping->writable = writable;
  return WrapMapping(env, mapping, &kRegionTag);
}

Napi::Value UnmapRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    ThrowArgType(
        env, "The \"buffer\" argument must be an instance of ArrayBuffer. " + Describe(info[0]));
  }
  DetachAndRelease(env, info[0].As<Napi::ArrayBuffer>(), &kRegionTag, "mmapRegion");
  return env.Undefined();
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceGetInfo", Napi::Function::New(env, DeviceGetInfo, "deviceGetInfo"));
  exports.Set("deviceGetRegionInfo",
              Napi::Function::New(env, DeviceGetRegionInfo, "deviceGetRegionInfo"));
  exports.Set("pread", Napi::Function::New(env, Pread, "pread"));
  exports.Set("pwrite", Napi::Function::New(env, Pwrite, "pwrite"));
  exports.Set("mmapRegion", Napi::Function::New(env, MmapRegion, "mmapRegion"));
  exports.Set("unmapRegion", Napi::Function::New(env, UnmapRegion, "unmapRegion"));
}

}  // namespace vfio

// MMIO: exactly one load or store of the stated width on a mapped region, with the
// ordering Linux's readl/writel give on POWER.
//   store (writel): `sync`, then the store.
//   load (readl, as in_le32 on ppc64): `sync`, the load, then `twi 0,v,0; isync`, which
//     makes later instructions wait until the loaded value has arrived.
// Elsewhere a sequentially consistent fence stands for each barrier. Registers of the
// other endianness are byte-swapped in a register, so the bus still sees one access.
#include <stdint.h>

#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "mapping.h"

namespace vfio {
namespace {

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kHostBigEndian = true;
#else
constexpr bool kHostBigEndian = false;
#endif

inline void BarrierBeforeAccess() {
#if defined(__powerpc__) || defined(__powerpc64__)
  __asm__ __volatile__("sync" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

template <typename T>
inline void BarrierAfterLoad(T value) {
#if defined(__powerpc__) || defined(__powerpc64__)
  __asm__ __volatile__("twi 0,%0,0\n\tisync" ::"r"(value) : "memory");
#else
  (void)value;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

inline uint8_t Swap(uint8_t v) { return v; }
inline uint16_t Swap(uint16_t v) { return __builtin_bswap16(v); }
inline uint32_t Swap(uint32_t v) { return __builtin_bswap32(v); }
inline uint64_t Swap(uint64_t v) { return __builtin_bswap64(v); }

template <typename T>
uint64_t Load(void* address, bool bigEndian) {
  volatile T* p = static_cast<volatile T*>(address);
  BarrierBeforeAccess();
  T value = *p;
  BarrierAfterLoad(value);
  if (bigEndian != kHostBigEndian) value = Swap(value);
  return value;
}

template <typename T>
void Store(void* address, uint64_t raw, bool bigEndian) {
  volatile T* p = static_cast<volatile T*>(address);
  T value = static_cast<T>(raw);
  if (bigEndian != kHostBigEndian) value = Swap(value);
  BarrierBeforeAccess();
  *p = value;
}

struct Access {
  void* address;
  unsigned width;
};

// Validates (buffer, offset, width): a live ArrayBuffer, width in {8,16,32,64}, the
// access inside the buffer and naturally aligned (on the absolute address).
Access CheckAccess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer buffer = ArgArrayBuffer(info, 0, "buffer");
  int64_t offset = ArgInteger(info, 1, "offset", 0, INT64_MAX >> 11);
  int64_t width = ArgInteger(info, 2, "width", 0, 64);
  if (width != 8 && width != 16 && width != 32 && width != 64) {
    ThrowArgRange(env, "The \"width\" argument must be one of 8, 16, 32, 64. Received " +
                           std::to_string(width));
  }
  const uint64_t bytes = static_cast<uint64_t>(width) / 8;
  const uint64_t length = buffer.ByteLength();
  if (static_cast<uint64_t>(offset) > length || length - static_cast<uint64_t>(offset) < bytes) {
    ThrowArgRange(env, "The \"offset\" argument must be <= " +
                           std::to_string(length >= bytes ? length - bytes : 0) + " for a " +
                           std::to_string(width) + "-bit access in a " + std::to_string(length) +
                           "-byte buffer. Received " + std::to_string(offset));
  }
  uintptr_t address = reinterpret_cast<uintptr_t>(buffer.Data()) + static_cast<uintptr_t>(offset);
  if (address % bytes != 0) {
    ThrowArgRange(env, "The \"offset\" argument must be aligned to " + std::to_string(bytes) +
                           " bytes for a " + std::to_string(width) + "-bit access. Received " +
                           std::to_string(offset));
  }
  return {reinterpret_cast<void*>(address), static_cast<unsigned>(width)};
}

Napi::Value MmioRead(const Napi::CallbackInfo& info) {
  Access access = CheckAccess(info);
  bool bigEndian = ArgBool(info, 3, "bigEndian");
  uint64_t value = 0;
  switch (access.width) {
    case 8:
      value = Load<uint8_t>(access.address, bigEndian);
      break;
    case 16:
      value = Load<uint16_t>(access.address, bigEndian);
      break;
    case 32:
      value = Load<uint32_t>(access.address, bigEndian);
      break;
    default:
      value = Load<uint64_t>(access.address, bigEndian);
      break;
  }
  return Napi::BigInt::New(info.Env(), value);
}

Napi::Value MmioWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Access access = CheckAccess(info);
  uint64_t value = ArgU64(info, 3, "value");
  bool bigEndian = ArgBool(info, 4, "bigEndian");
  if (access.width < 64 && (value >> access.width) != 0) {
    ThrowArgRange(env, "The \"value\" argument must be < 2n ** " + std::to_string(access.width) +
                           "n for a " + std::to_string(access.width) + "-bit write. Received " +
                           std::to_string(value) + "n");
  }
  // A read-only region mapping would fault on the store: refuse it.
  if (std::shared_ptr<Mapping> region =
          FindMapping(env, info[0].As<Napi::ArrayBuffer>(), &kRegionTag)) {
    if (!region->writable) {
      ThrowArgValue(env,
                    "The \"buffer\" argument is a read-only mapping (mmapRegion with "
                    "writable false)");
    }
  }
  switch (access.width) {
    case 8:
      Store<uint8_t>(access.address, value, bigEndian);
      break;
    case 16:
      Store<uint16_t>(access.address, value, bigEndian);
      break;
    case 32:
      Store<uint32_t>(access.address, value, bigEndian);
      break;
    default:
      Store<uint64_t>(access.address, value, bigEndian);
      break;
  }
  return env.Undefined();
}

}  // namespace

void InitMmio(Napi::Env env, Napi::Object exports) {
  exports.Set("mmioRead", Napi::Function::New(env, MmioRead, "mmioRead"));
  exports.Set("mmioWrite", Napi::Function::New(env, MmioWrite, "mmioWrite"));
}

}  // namespace vfio

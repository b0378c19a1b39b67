// The container (/dev/vfio/vfio): API version, extensions, IOMMU type, SPAPR TCE info,
// memory registration (sync and on the libuv pool), DMA map/unmap, dynamic windows, EEH.
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "ioctl.h"

namespace vfio {
namespace {

constexpr const char kContainerPath[] = "/dev/vfio/vfio";
// Largest argsz a caller may ask registerMemory/unregisterMemory to pass.
constexpr int64_t kMaxArgsz = 65536;

Napi::Value OpenContainer(const Napi::CallbackInfo& info) {
  int fd;
  do {
    fd = open(kContainerPath, O_RDWR | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowSystemError(info.Env(), errno, "open", nullptr, kContainerPath);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  // On Linux the fd is released even when close() reports EINTR: never retry.
  if (close(fd) < 0 && errno != EINTR) ThrowSystemError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

Napi::Value GetApiVersion(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  return Napi::Number::New(info.Env(), VFIO_RESULT(info.Env(), fd, VFIO_GET_API_VERSION, 0UL));
}

Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  unsigned long extension = ArgU32(info, 1, "extension");
  return Napi::Number::New(info.Env(),
                           VFIO_RESULT(info.Env(), fd, VFIO_CHECK_EXTENSION, extension));
}

Napi::Value SetIommu(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  unsigned long type = ArgU32(info, 1, "type");
  VFIO_VOID(info.Env(), fd, VFIO_SET_IOMMU, type);
  return info.Env().Undefined();
}

Napi::Value SpaprTceGetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct vfio_iommu_spapr_tce_info tce;
  memset(&tce, 0, sizeof tce);
  tce.argsz = sizeof tce;
  VFIO_VOID(env, fd, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &tce);
  if (!(tce.flags & VFIO_IOMMU_SPAPR_INFO_DDW)) memset(&tce.ddw, 0, sizeof tce.ddw);
  Napi::Object ddw = Napi::Object::New(env);
  ddw.Set("pgsizes", Napi::BigInt::New(env, static_cast<uint64_t>(tce.ddw.pgsizes)));
  ddw.Set("maxDynamicWindows", Napi::Number::New(env, tce.ddw.max_dynamic_windows_supported));
  ddw.Set("levels", Napi::Number::New(env, tce.ddw.levels));
  Napi::Object result = Napi::Object::New(env);
  result.Set("flags", Napi::Number::New(env, tce.flags));
  result.Set("dma32WindowStart",
             Napi::BigInt::New(env, static_cast<uint64_t>(tce.dma32_window_start)));
  result.Set("dma32WindowSize",
             Napi::BigInt::New(env, static_cast<uint64_t>(tce.dma32_window_size)));
  result.Set("ddw", ddw);
  return result;
}

Napi::Value IommuEnable(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  VFIO_VOID(info.Env(), fd, VFIO_IOMMU_ENABLE, 0UL);
  return info.Env().Undefined();
}

Napi::Value IommuDisable(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  VFIO_VOID(info.Env(), fd, VFIO_IOMMU_DISABLE, 0UL);
  return info.Env().Undefined();
}

// registerMemory / unregisterMemory share struct vfio_iommu_spapr_register_memory.
// flags and argsz are overridable to measure the kernel; the struct handed to the
// kernel is always at least argsz bytes long (zero-filled past the fields), so a
// kernel that reads argsz bytes never reads past our allocation.
void RegisterLike(const Napi::CallbackInfo& info, unsigned long request, const char* name) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t vaddr = ArgU64(info, 1, "vaddr");
  uint64_t size = ArgU64(info, 2, "size");
  uint32_t flags = IsMissing(info, 3) ? 0 : ArgU32(info, 3, "flags");
  uint32_t argsz = sizeof(struct vfio_iommu_spapr_register_memory);
  if (!IsMissing(info, 4))
    argsz = static_cast<uint32_t>(ArgInteger(info, 4, "argsz", 0, kMaxArgsz));
  std::vector<unsigned char> storage(
      std::max<size_t>(argsz, sizeof(struct vfio_iommu_spapr_register_memory)), 0);
  struct vfio_iommu_spapr_register_memory reg;
  memset(&reg, 0, sizeof reg);
  reg.argsz = argsz;
  reg.flags = flags;
  reg.vaddr = vaddr;
  reg.size = size;
  memcpy(storage.data(), &reg, sizeof reg);
  IoctlVoid(env, fd, request, storage.data(), name);
}

Napi::Value RegisterMemory(const Napi::CallbackInfo& info) {
  RegisterLike(info, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, "VFIO_IOMMU_SPAPR_REGISTER_MEMORY");
  return info.Env().Undefined();
}

Napi::Value UnregisterMemory(const Napi::CallbackInfo& info) {
  RegisterLike(info, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY");
  return info.Env().Undefined();
}

// REGISTER_MEMORY on the libuv pool: pinning gigabytes takes seconds. Argument
// errors throw synchronously; kernel errors reject the promise with a NativeError.
class RegisterMemoryWorker : public Napi::AsyncWorker {
 public:
  RegisterMemoryWorker(Napi::Env env, int fd, uint64_t vaddr, uint64_t size)
      : Napi::AsyncWorker(env, "vfio-spapr:registerMemory"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        vaddr_(vaddr),
        size_(size) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    struct vfio_iommu_spapr_register_memory reg;
    memset(&reg, 0, sizeof reg);
    reg.argsz = sizeof reg;
    reg.vaddr = vaddr_;
    reg.size = size_;
    rc_ = ioctl(fd_, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &reg);
    err_ = rc_ < 0 ? errno : 0;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      deferred_.Reject(SystemError(env, err_, "ioctl", "VFIO_IOMMU_SPAPR_REGISTER_MEMORY").Value());
    } else if (rc_ > 0) {
      deferred_.Reject(
          UnexpectedReturnError(env, rc_, "ioctl", "VFIO_IOMMU_SPAPR_REGISTER_MEMORY").Value());
    } else {
      deferred_.Resolve(env.Undefined());
    }
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  uint64_t vaddr_;
  uint64_t size_;
  int rc_ = 0;
  int err_ = 0;
};

Napi::Value RegisterMemoryAsync(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  uint64_t vaddr = ArgU64(info, 1, "vaddr");
  uint64_t size = ArgU64(info, 2, "size");
  auto* worker = new RegisterMemoryWorker(info.Env(), fd, vaddr, size);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself when done
  return promise;
}

Napi::Value MapDma(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  uint64_t vaddr = ArgU64(info, 1, "vaddr");
  uint64_t iova = ArgU64(info, 2, "iova");
  uint64_t size = ArgU64(info, 3, "size");
  uint32_t flags = ArgU32(info, 4, "flags");
  int rc = MapDmaRaw(fd, vaddr, iova, size, flags);
  if (rc != 0) throw IoctlError(info.Env(), rc, errno, "VFIO_IOMMU_MAP_DMA");
  return info.Env().Undefined();
}

// MAP_DMA once per entry of a BigUint64Array of (vaddr, iova, size, flags) quadruples, in
// order, in one call from JS (the per-call cost of N-API and the library's layers is paid
// once). Every entry is validated before the first ioctl. Stops at the first failure: the
// NativeError then carries `index`, the entry that failed; the entries before it are
// mapped, and undoing them is the caller's decision. Returns the number of entries.
Napi::Value MapDmaBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (!info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowArgType(
        env, "The \"ranges\" argument must be an instance of BigUint64Array. " + Describe(info[1]));
  }
  Napi::BigUint64Array ranges = info[1].As<Napi::BigUint64Array>();
  Napi::Value backing = ranges.ArrayBuffer();
  if (backing.IsArrayBuffer() && backing.As<Napi::ArrayBuffer>().IsDetached()) {
    ThrowArgValue(env, "The \"ranges\" argument is a view on a detached ArrayBuffer");
  }
  const size_t length = ranges.ElementLength();
  if (length % 4 != 0) {
    ThrowArgValue(env,
                  "The \"ranges\" argument must hold (vaddr, iova, size, flags) quadruples. "
                  "Received " +
                      std::to_string(length) + " elements");
  }
  const uint64_t* data = ranges.Data();
  for (size_t i = 3; i < length; i += 4) {
    if (data[i] > UINT32_MAX) {
      ThrowArgRange(env, "The flags of ranges entry " + std::to_string(i / 4) +
                             " must be <= 4294967295. Received " + std::to_string(data[i]));
    }
  }
  for (size_t i = 0; i < length; i += 4) {
    int rc = MapDmaRaw(fd, data[i], data[i + 1], data[i + 2], static_cast<uint32_t>(data[i + 3]));
    if (rc != 0) {
      Napi::Error error = IoctlError(env, rc, errno, "VFIO_IOMMU_MAP_DMA");
      error.Value().Set("index", Napi::Number::New(env, static_cast<double>(i / 4)));
      throw error;
    }
  }
  return Napi::Number::New(env, static_cast<double>(length / 4));
}

Napi::Value UnmapDma(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  uint64_t iova = ArgU64(info, 1, "iova");
  uint64_t size = ArgU64(info, 2, "size");
  uint32_t flags = IsMissing(info, 3) ? 0 : ArgU32(info, 3, "flags");
  int rc = UnmapDmaRaw(fd, iova, size, flags);
  if (rc != 0) throw IoctlError(info.Env(), rc, errno, "VFIO_IOMMU_UNMAP_DMA");
  return info.Env().Undefined();
}

Napi::Value SpaprTceCreate(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  struct vfio_iommu_spapr_tce_create create;
  memset(&create, 0, sizeof create);
  create.argsz = sizeof create;
  create.page_shift = ArgU32(info, 1, "pageShift");
  create.window_size = ArgU64(info, 2, "windowSize");
  create.levels = ArgU32(info, 3, "levels");
  VFIO_VOID(info.Env(), fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &create);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(create.start_addr));
}

Napi::Value SpaprTceRemove(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  struct vfio_iommu_spapr_tce_remove remove;
  memset(&remove, 0, sizeof remove);
  remove.argsz = sizeof remove;
  remove.start_addr = ArgU64(info, 1, "startAddr");
  VFIO_VOID(info.Env(), fd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &remove);
  return info.Env().Undefined();
}

Napi::Value EehPeOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct vfio_eeh_pe_op op;
  memset(&op, 0, sizeof op);
  op.argsz = sizeof op;
  op.op = ArgU32(info, 1, "op");
  if (!IsMissing(info, 2)) {
    Napi::Object err = ArgObject(info, 2, "err");
    op.err.type =
        static_cast<uint32_t>(ValueInteger(env, err.Get("type"), "err.type", 0, UINT32_MAX));
    op.err.func =
        static_cast<uint32_t>(ValueInteger(env, err.Get("func"), "err.func", 0, UINT32_MAX));
    op.err.addr = ValueU64(env, err.Get("addr"), "err.addr");
    op.err.mask = ValueU64(env, err.Get("mask"), "err.mask");
  }
  // The result is the answer (the PE state for GET_STATE): any non-negative value is returned.
  return Napi::Number::New(env, VFIO_RESULT(env, fd, VFIO_EEH_PE_OP, &op));
}

}  // namespace

void InitContainer(Napi::Env env, Napi::Object exports) {
  exports.Set("openContainer", Napi::Function::New(env, OpenContainer, "openContainer"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("getApiVersion", Napi::Function::New(env, GetApiVersion, "getApiVersion"));
  exports.Set("checkExtension", Napi::Function::New(env, CheckExtension, "checkExtension"));
  exports.Set("setIommu", Napi::Function::New(env, SetIommu, "setIommu"));
  exports.Set("spaprTceGetInfo", Napi::Function::New(env, SpaprTceGetInfo, "spaprTceGetInfo"));
  exports.Set("iommuEnable", Napi::Function::New(env, IommuEnable, "iommuEnable"));
  exports.Set("iommuDisable", Napi::Function::New(env, IommuDisable, "iommuDisable"));
  exports.Set("registerMemory", Napi::Function::New(env, RegisterMemory, "registerMemory"));
  exports.Set("registerMemoryAsync",
              Napi::Function::New(env, RegisterMemoryAsync, "registerMemoryAsync"));
  exports.Set("unregisterMemory", Napi::Function::New(env, UnregisterMemory, "unregisterMemory"));
  exports.Set("mapDma", Napi::Function::New(env, MapDma, "mapDma"));
  exports.Set("mapDmaBatch", Napi::Function::New(env, MapDmaBatch, "mapDmaBatch"));
  exports.Set("unmapDma", Napi::Function::New(env, UnmapDma, "unmapDma"));
  exports.Set("spaprTceCreate", Napi::Function::New(env, SpaprTceCreate, "spaprTceCreate"));
  exports.Set("spaprTceRemove", Napi::Function::New(env, SpaprTceRemove, "spaprTceRemove"));
  exports.Set("eehPeOp", Napi::Function::New(env, EehPeOp, "eehPeOp"));
}

}  // namespace vfio

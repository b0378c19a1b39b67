// Issuing VFIO ioctls: the request number comes from the target's <linux/vfio.h>
// (never hard-coded), the name travels with it into any error.
#ifndef VFIO_SPAPR_IOCTL_H_
#define VFIO_SPAPR_IOCTL_H_

#include <napi.h>
#include <stdint.h>

namespace vfio {

// ioctl(fd, request, arg): returns the non-negative result, throws a NativeError
// (syscall 'ioctl', ioctl name) on -1.
int IoctlResult(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);
int IoctlResult(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name);
// The same for ioctls whose success is 0: a positive return also throws
// (ERR_VFIO_UNEXPECTED_RETURN, e.g. MAP_DMA's +1 on a misaligned IOVA).
void IoctlVoid(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);
void IoctlVoid(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name);

// VFIO_IOMMU_MAP_DMA / UNMAP_DMA with their structs filled field by field: the raw result (-1
// with errno set, 0, or the kernel's positive return for a misaligned IOVA).
int MapDmaRaw(int fd, uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t flags);
int UnmapDmaRaw(int fd, uint64_t iova, uint64_t size, uint32_t flags = 0);
// The error of a failed ioctl: a SystemError for -1 (err), ERR_VFIO_UNEXPECTED_RETURN for a
// positive return.
Napi::Error IoctlError(Napi::Env env, int rc, int err, const char* name);

}  // namespace vfio

// VFIO_RESULT(env, fd, VFIO_GET_API_VERSION, 0UL): the request's own name becomes `ioctl`.
#define VFIO_RESULT(env, fd, request, arg) \
  ::vfio::IoctlResult((env), (fd), (request), (arg), #request)
#define VFIO_VOID(env, fd, request, arg) ::vfio::IoctlVoid((env), (fd), (request), (arg), #request)

#endif  // VFIO_SPAPR_IOCTL_H_

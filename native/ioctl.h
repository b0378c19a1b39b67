// Issuing VFIO ioctls: the request number comes from the target's <linux/vfio.h>
// (never hard-coded), the name travels with it into any error.
#ifndef VFIO_SPAPR_IOCTL_H_
#define VFIO_SPAPR_IOCTL_H_

#include <napi.h>

namespace vfio {

// ioctl(fd, request, arg): returns the non-negative result, throws a NativeError
// (syscall 'ioctl', ioctl name) on -1.
int IoctlResult(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);
int IoctlResult(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name);
// The same for ioctls whose success is 0: a positive return also throws
// (ERR_VFIO_UNEXPECTED_RETURN, e.g. MAP_DMA's +1 on a misaligned IOVA).
void IoctlVoid(Napi::Env env, int fd, unsigned long request, void* arg, const char* name);
void IoctlVoid(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name);

}  // namespace vfio

// VFIO_RESULT(env, fd, VFIO_GET_API_VERSION, 0UL): the request's own name becomes `ioctl`.
#define VFIO_RESULT(env, fd, request, arg) \
  ::vfio::IoctlResult((env), (fd), (request), (arg), #request)
#define VFIO_VOID(env, fd, request, arg) ::vfio::IoctlVoid((env), (fd), (request), (arg), #request)

#endif  // VFIO_SPAPR_IOCTL_H_

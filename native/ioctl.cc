#include "ioctl.h"

#include <errno.h>
#include <sys/ioctl.h>

#include "errors.h"

namespace vfio {

int IoctlResult(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int rc = ioctl(fd, request, arg);
  if (rc < 0) ThrowSystemError(env, errno, "ioctl", name);
  return rc;
}

int IoctlResult(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name) {
  int rc = ioctl(fd, request, arg);
  if (rc < 0) ThrowSystemError(env, errno, "ioctl", name);
  return rc;
}

void IoctlVoid(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int rc = IoctlResult(env, fd, request, arg, name);
  if (rc != 0) ThrowUnexpectedReturn(env, rc, "ioctl", name);
}

void IoctlVoid(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name) {
  int rc = IoctlResult(env, fd, request, arg, name);
  if (rc != 0) ThrowUnexpectedReturn(env, rc, "ioctl", name);
}

}  // namespace vfio

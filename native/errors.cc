#include "errors.h"

#include <string.h>
#include <uv.h>

namespace vfio {

std::string ErrnoCode(int err) {
  char buf[64];
  uv_err_name_r(-err, buf, sizeof buf);
  if (strncmp(buf, "Unknown", 7) != 0) return buf;
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 32)
  if (const char* name = strerrorname_np(err)) return name;
#endif
#endif
  return "ERR_VFIO_NATIVE_ERRNO_" + std::to_string(err);
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const char* ioctlName,
                        const char* path) {
  std::string code = ErrnoCode(err);
  std::string message;
  if (ioctlName != nullptr) {
    message = std::string(syscall) + " " + ioctlName;
  } else {
    message = syscall;
    if (path != nullptr) message += std::string(" '") + path + "'";
  }
  message += " failed: " + code + " (" + strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (ioctlName != nullptr) obj.Set("ioctl", Napi::String::New(env, ioctlName));
  if (path != nullptr) obj.Set("path", Napi::String::New(env, path));
  return error;
}

void ThrowSystemError(Napi::Env env, int err, const char* syscall, const char* ioctlName,
                      const char* path) {
  throw SystemError(env, err, syscall, ioctlName, path);
}

Napi::Error UnexpectedReturnError(Napi::Env env, long returnValue, const char* syscall,
                                  const char* ioctlName) {
  std::string message = std::string(syscall) + " " + (ioctlName ? ioctlName : "") + " returned " +
                        std::to_string(returnValue) +
                        " where the kernel means success by 0 (nothing was done)";
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, "ERR_VFIO_UNEXPECTED_RETURN"));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (ioctlName != nullptr) obj.Set("ioctl", Napi::String::New(env, ioctlName));
  obj.Set("returnValue", Napi::Number::New(env, static_cast<double>(returnValue)));
  return error;
}

void ThrowUnexpectedReturn(Napi::Env env, long returnValue, const char* syscall,
                           const char* ioctlName) {
  throw UnexpectedReturnError(env, returnValue, syscall, ioctlName);
}

void ThrowNativeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  throw error;
}

void ThrowArgType(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw error;
}

void ThrowArgValue(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  throw error;
}

void ThrowArgRange(Napi::Env env, const std::string& message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw error;
}

}  // namespace vfio

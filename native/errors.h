// NativeError: the one error shape every native failure takes (see lib/binding.ts).
//
// A failed syscall or ioctl becomes a JS Error shaped like Node's SystemError:
//   message, errno (negative, as Node: -1 for EPERM), code ('EBUSY', from libuv's
//   uv_err_name_r), syscall ('ioctl', 'open', ...), ioctl (the <linux/vfio.h> name).
// An ioctl that returns a positive value where the kernel means success by 0 becomes
//   code 'ERR_VFIO_UNEXPECTED_RETURN' with returnValue and no errno.
// Bad arguments become TypeError / RangeError with Node's codes
//   (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE).
// All throwers throw a C++ Napi::Error (the addon is built with NAPI_CPP_EXCEPTIONS);
// node-addon-api turns it into the pending JS exception.
#ifndef VFIO_SPAPR_ERRORS_H_
#define VFIO_SPAPR_ERRORS_H_

#include <napi.h>

#include <string>

namespace vfio {

// The errno name: 'EBUSY', 'ENOENT', ... (libuv's table, glibc's as a fallback).
std::string ErrnoCode(int err);

// Builds (does not throw) the error for a failed call; err is the positive errno.
// ioctlName and path are optional (nullptr: property left out).
Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const char* ioctlName = nullptr, const char* path = nullptr);
[[noreturn]] void ThrowSystemError(Napi::Env env, int err, const char* syscall,
                                   const char* ioctlName = nullptr, const char* path = nullptr);

// A positive return where 0 means success: code ERR_VFIO_UNEXPECTED_RETURN.
Napi::Error UnexpectedReturnError(Napi::Env env, long returnValue, const char* syscall,
                                  const char* ioctlName);
[[noreturn]] void ThrowUnexpectedReturn(Napi::Env env, long returnValue, const char* syscall,
                                        const char* ioctlName);

// A failure with no errno: code must start with ERR_VFIO_NATIVE_.
[[noreturn]] void ThrowNativeError(Napi::Env env, const char* code, const std::string& message);

// Argument errors, Node-style.
[[noreturn]] void ThrowArgType(Napi::Env env,
                               const std::string& message);  // TypeError ERR_INVALID_ARG_TYPE
[[noreturn]] void ThrowArgValue(Napi::Env env,
                                const std::string& message);  // TypeError ERR_INVALID_ARG_VALUE
[[noreturn]] void ThrowArgRange(Napi::Env env,
                                const std::string& message);  // RangeError ERR_OUT_OF_RANGE

}  // namespace vfio

#endif  // VFIO_SPAPR_ERRORS_H_

// The process: RLIMIT_MEMLOCK, locked memory (VmLck), CAP_IPC_LOCK, pid.
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "procfs.h"

namespace vfio {
namespace {

constexpr const char kStatus[] = "/proc/self/status";
constexpr int kCapIpcLock = 14;  // <linux/capability.h> CAP_IPC_LOCK

Napi::Value GetMemlockLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit limit;
  if (getrlimit(RLIMIT_MEMLOCK, &limit) < 0) ThrowSystemError(env, errno, "getrlimit");
  // RLIM_INFINITY is ~0 on Linux: it reads as 2^64-1.
  Napi::Object result = Napi::Object::New(env);
  result.Set("soft", Napi::BigInt::New(env, static_cast<uint64_t>(limit.rlim_cur)));
  result.Set("hard", Napi::BigInt::New(env, static_cast<uint64_t>(limit.rlim_max)));
  return result;
}

Napi::Value SetMemlockLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit limit;
  limit.rlim_cur = static_cast<rlim_t>(ArgU64(info, 0, "soft"));
  limit.rlim_max = static_cast<rlim_t>(ArgU64(info, 1, "hard"));
  if (setrlimit(RLIMIT_MEMLOCK, &limit) < 0) ThrowSystemError(env, errno, "setrlimit");
  return env.Undefined();
}

Napi::Value VmLockedBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string value;
  if (!ProcField(ReadProcFile(env, kStatus), "VmLck", &value)) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_PROC_FIELD", "no VmLck line in /proc/self/status");
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long kb = strtoull(value.c_str(), &end, 10);
  if (errno != 0 || end == value.c_str()) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_PROC_FIELD",
                     "cannot parse VmLck '" + value + "' in /proc/self/status");
  }
  return Napi::BigInt::New(env, static_cast<uint64_t>(kb) * 1024);
}

Napi::Value HasCapIpcLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string value;
  if (!ProcField(ReadProcFile(env, kStatus), "CapEff", &value)) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_PROC_FIELD", "no CapEff line in /proc/self/status");
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long caps = strtoull(value.c_str(), &end, 16);
  if (errno != 0 || end == value.c_str()) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_PROC_FIELD",
                     "cannot parse CapEff '" + value + "' in /proc/self/status");
  }
  return Napi::Boolean::New(env, (caps >> kCapIpcLock) & 1);
}

Napi::Value GetPid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getpid());
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("getMemlockLimit", Napi::Function::New(env, GetMemlockLimit, "getMemlockLimit"));
  exports.Set("setMemlockLimit", Napi::Function::New(env, SetMemlockLimit, "setMemlockLimit"));
  exports.Set("vmLockedBytes", Napi::Function::New(env, VmLockedBytes, "vmLockedBytes"));
  exports.Set("hasCapIpcLock", Napi::Function::New(env, HasCapIpcLock, "hasCapIpcLock"));
  exports.Set("getpid", Napi::Function::New(env, GetPid, "getpid"));
}

}  // namespace vfio

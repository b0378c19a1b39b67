// The process: RLIMIT_MEMLOCK, locked memory (VmLck), CAP_IPC_LOCK, pid.
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "procfs.h"

namespace vfio {
namespace {

constexpr const char kStatus[] = "/proc/self/status";

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

// capget(2) rather than CapEff in /proc/self/status: asked before every registration, and a
// /proc read costs a file open and a page of text (hundreds of microseconds under emulation).
Napi::Value HasCapIpcLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) < 0) ThrowSystemError(env, errno, "capget");
  return Napi::Boolean::New(env, (data[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1);
}

// The library checks the pid on every operation (use after fork is refused). A call into the
// addon costs microseconds under emulation, so each context gets the pid as an Int32Array over
// a cell that the atfork child handler rewrites before anything else runs in the child: the
// check is a memory read. (Measured on Node 18 and 20: a fork()ed Node child dies with SIGSEGV
// at its first JavaScript, since V8 marks its heap MADV_DONTFORK; the refusal guards whatever
// future Node allows.)
struct PidCell {
  int32_t pid;
  PidCell* next;
};
std::atomic<PidCell*> pid_cells{nullptr};

void RefreshPid() {
  const pid_t pid = getpid();
  for (PidCell* cell = pid_cells.load(std::memory_order_acquire); cell != nullptr;
       cell = cell->next) {
    cell->pid = pid;
  }
}

Napi::Int32Array NewPidCell(Napi::Env env) {
  // Never freed: the handler may run at any fork, and JavaScript may keep the view for ever
  // (the external buffer has no finalizer). Four bytes and a pointer per context.
  auto* cell = new PidCell{static_cast<int32_t>(getpid()), pid_cells.load()};
  while (!pid_cells.compare_exchange_weak(cell->next, cell, std::memory_order_release)) {
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, &cell->pid, sizeof cell->pid);
  return Napi::Int32Array::New(env, 1, buffer, 0);
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  // Once per process, whatever the number of contexts (workers) that load the addon.
  static const bool atfork_registered = pthread_atfork(nullptr, nullptr, RefreshPid) == 0;
  if (!atfork_registered) {
    Napi::Error::New(env, "pthread_atfork failed").ThrowAsJavaScriptException();
    return;
  }
  exports.Set("getMemlockLimit", Napi::Function::New(env, GetMemlockLimit, "getMemlockLimit"));
  exports.Set("setMemlockLimit", Napi::Function::New(env, SetMemlockLimit, "setMemlockLimit"));
  exports.Set("vmLockedBytes", Napi::Function::New(env, VmLockedBytes, "vmLockedBytes"));
  exports.Set("hasCapIpcLock", Napi::Function::New(env, HasCapIpcLock, "hasCapIpcLock"));
  exports.Set("pidCell", NewPidCell(env));
}

}  // namespace vfio

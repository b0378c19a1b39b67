// eventfds for IRQs: create, non-blocking read, write. Watching them is eventfd_watch.cc.
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace vfio {
namespace {

Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) ThrowSystemError(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  // poll first, so that an eventfd opened without EFD_NONBLOCK does not block either.
  struct pollfd pfd = {fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, 0);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) ThrowSystemError(env, errno, "poll");
  if (pfd.revents & POLLNVAL) ThrowSystemError(env, EBADF, "read");
  if (ready == 0) return Napi::BigInt::New(env, static_cast<uint64_t>(0));
  uint64_t count = 0;
  ssize_t n;
  do {
    n = read(fd, &count, sizeof count);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return Napi::BigInt::New(env, static_cast<uint64_t>(0));
  }
  if (n < 0) ThrowSystemError(env, errno, "read");
  if (n != sizeof count) ThrowSystemError(env, EINVAL, "read");
  return Napi::BigInt::New(env, count);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t value = ArgU64(info, 1, "value");
  ssize_t n;
  do {
    n = write(fd, &value, sizeof value);
  } while (n < 0 && errno == EINTR);
  if (n < 0) ThrowSystemError(env, errno, "write");
  if (n != sizeof value) ThrowSystemError(env, EIO, "write");
  return env.Undefined();
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate, "eventfdCreate"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
}

}  // namespace vfio

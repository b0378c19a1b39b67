// eventfds for IRQs: create, non-blocking read, write, and a watcher.
//
// eventfdWatch (node-pty's shape): a dedicated std::thread (not the libuv pool, whose
// 4 threads a blocked wait would starve) poll()s a dup of the eventfd together with a
// private stop eventfd, reads the counter and hands it to JS through an unref'd
// ThreadSafeFunction (so an active watcher never keeps the process alive).
//   stop(): wakes the thread, joins it, closes its fds, releases the TSFN; idempotent.
//   Never stopped: the thread runs until the environment is torn down; the TSFN's
//   finalizer (which Node runs at teardown, also for worker_threads) stops and joins it.
//   Dropping the watcher object (and its stop function) does not stop the watch (like
//   an event listener): it then runs until teardown.
//   The thread ends by itself (no more callbacks) if the fd reports an error or hangup.
// The watched fd is dup'd, so closing the caller's fd does not pull it from under the
// thread, and is switched to O_NONBLOCK (a shared file status flag: this also applies
// to the caller's fd) so a concurrent eventfdRead can never block the thread in read().
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>
#include <system_error>
#include <thread>

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

struct Watcher;
void CallOnEvent(Napi::Env env, Napi::Function onEvent, Watcher* watcher, uint64_t* count);
using WatchFunction = Napi::TypedThreadSafeFunction<Watcher, uint64_t, CallOnEvent>;

struct Watcher {
  int fd = -1;      // our dup of the watched eventfd
  int stopFd = -1;  // written by stop() to wake the thread
  std::thread thread;
  WatchFunction tsfn;
  bool stopped = false;  // main thread only

  // Main thread: wake and join the thread, close the fds. Idempotent.
  void Halt() {
    if (thread.joinable()) {
      uint64_t one = 1;
      ssize_t n;
      do {
        n = write(stopFd, &one, sizeof one);
      } while (n < 0 && errno == EINTR);
      thread.join();
    }
    if (fd >= 0) close(fd);
    if (stopFd >= 0) close(stopFd);
    fd = stopFd = -1;
  }

  ~Watcher() { Halt(); }
};

// Runs on the JS thread for each count the watcher thread queued. Plain N-API calls, no
// C++ exceptions: this also runs while a worker is being terminated, where every call
// may fail, and must then just drop the event.
void CallOnEvent(Napi::Env env, Napi::Function onEvent, Watcher* /*watcher*/, uint64_t* count) {
  std::unique_ptr<uint64_t> owned(count);
  // env is null when the queue is drained at teardown: just free the data.
  if (env == nullptr || onEvent.IsEmpty()) return;
  napi_value argv[1];
  napi_value recv;
  if (napi_create_bigint_uint64(env, *owned, &argv[0]) != napi_ok) return;
  if (napi_get_undefined(env, &recv) != napi_ok) return;
  napi_status status = napi_call_function(env, recv, onEvent, 1, argv, nullptr);
  if (status == napi_pending_exception) {
    // onEvent threw: report it as an uncaught exception, as for any event callback.
    napi_value error = nullptr;
    napi_valuetype type = napi_undefined;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr &&
        napi_typeof(env, error, &type) == napi_ok && type != napi_undefined) {
      napi_fatal_exception(env, error);
    }
  }
}

void WatchLoop(int fd, int stopFd, WatchFunction tsfn) {
  for (;;) {
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {stopFd, POLLIN, 0}};
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    uint64_t count = 0;
    ssize_t n = read(fd, &count, sizeof count);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n != sizeof count) return;
    uint64_t* data = new uint64_t(count);
    if (tsfn.NonBlockingCall(data) != napi_ok) {
      delete data;
      return;
    }
  }
}

// The TSFN's finalizer: the last owner of the watcher besides the JS handle.
void FinalizeWatch(Napi::Env /*env*/, std::shared_ptr<Watcher>* ref, Watcher* /*context*/) {
  (*ref)->Halt();
  delete ref;
}

Napi::Value StopWatch(const Napi::CallbackInfo& info) {
  auto* ref = static_cast<std::shared_ptr<Watcher>*>(info.Data());
  Watcher& watcher = **ref;
  if (watcher.stopped) return info.Env().Undefined();
  watcher.stopped = true;
  watcher.Halt();
  watcher.tsfn.Release();  // the finalizer runs later on this thread
  return info.Env().Undefined();
}

Napi::Value EventfdWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Function onEvent = ArgFunction(info, 1, "onEvent");

  auto watcher = std::make_shared<Watcher>();
  watcher->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (watcher->fd < 0) ThrowSystemError(env, errno, "fcntl");
  int flags = fcntl(watcher->fd, F_GETFL);
  if (flags < 0 || fcntl(watcher->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ThrowSystemError(env, errno, "fcntl");
  }
  watcher->stopFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (watcher->stopFd < 0) ThrowSystemError(env, errno, "eventfd");

  auto* finalizeRef = new std::shared_ptr<Watcher>(watcher);
  try {
    watcher->tsfn = WatchFunction::New(env, onEvent, "vfio-spapr:eventfdWatch", 0, 1, watcher.get(),
                                       FinalizeWatch, finalizeRef);
  } catch (...) {
    delete finalizeRef;
    throw;
  }
  // From here the TSFN's finalizer owns finalizeRef.
  watcher->tsfn.Unref(env);

  Napi::Object handle = Napi::Object::New(env);
  auto* stopRef = new std::shared_ptr<Watcher>(watcher);
  Napi::Function stop;
  try {
    stop = Napi::Function::New(env, StopWatch, "stop", stopRef);
    // The reference lives as long as the stop function itself (which may outlive the
    // handle object, e.g. `const { stop } = eventfdWatch(...)`).
    stop.AddFinalizer([](Napi::Env, std::shared_ptr<Watcher>* ref) { delete ref; }, stopRef);
  } catch (...) {
    delete stopRef;
    watcher->stopped = true;
    watcher->tsfn.Release();
    throw;
  }

  try {
    watcher->thread = std::thread(WatchLoop, watcher->fd, watcher->stopFd, watcher->tsfn);
  } catch (const std::system_error& e) {
    watcher->stopped = true;
    watcher->tsfn.Release();
    ThrowSystemError(env, e.code().value(), "pthread_create");
  }
  handle.Set("stop", stop);
  return handle;
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate, "eventfdCreate"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdWatch", Napi::Function::New(env, EventfdWatch, "eventfdWatch"));
}

}  // namespace vfio

// eventfdWatch: one epoll thread for every watched eventfd of the process, whatever the number
// of vectors, devices or worker_threads. A VMM that hands its eventfds to KVM watches nothing
// and has no thread at all.
//
// The addon is context-aware (each worker_thread loads its own instance) and otherwise keeps no
// process-wide state. The poller below is the deliberate exception: a poller per instance would
// cost a thread per env. A mutex guards it, and each event goes back to the env that asked for
// it through that env's ThreadSafeFunction (unref'd: a watch never keeps an event loop alive).
//   - The thread starts with the process's first watch, and is joined (its epoll fd closed)
//     when the last watch stops: a process that watches nothing has no thread and no fd.
//   - At env teardown (worker exit, process exit) a cleanup hook drops that env's watches
//     before its TSFN is finalized; the thread ends with the last of them.
//   - Each watch polls a dup of the caller's fd (closing the caller's fd does not pull it from
//     under the thread), switched to O_NONBLOCK (a file status flag the caller's fd shares) so
//     a concurrent eventfdRead can never block the thread in read().
// Not fork-safe, like Node itself: a forked child cannot run the event loop either.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace vfio {
namespace {

struct Event {
  uint64_t id;
  uint64_t count;
};
struct EnvWatches;
void Deliver(Napi::Env env, Napi::Function unused, EnvWatches* watches, Event* event);
using DeliverFunction = Napi::TypedThreadSafeFunction<EnvWatches, Event, Deliver>;

// One env's side. Its JS thread alone touches `callbacks`; the poll thread only calls `tsfn`.
struct EnvWatches {
  DeliverFunction tsfn;  // made at the env's first watch
  bool hasTsfn = false;
  std::unordered_map<uint64_t, Napi::FunctionReference> callbacks;
};

struct Watch {
  int fd;  // our dup, owned by the poller
  EnvWatches* owner;
  DeliverFunction tsfn;
  bool dead;  // dropped from epoll after an error or hangup; closed by Remove
};

class Poller {
 public:
  // Leaked on purpose: never destroyed, so nothing depends on the order of static destructors.
  static Poller& Instance() {
    static Poller* poller = new Poller;
    return *poller;
  }

  // JS thread. Takes ownership of fd. Returns the watch id, or 0 with *err set.
  uint64_t Add(int fd, EnvWatches* owner, DeliverFunction tsfn, int* err) {
    std::lock_guard<std::mutex> life(lifecycle_);
    if (!thread_.joinable() && (*err = Start()) != 0) {
      close(fd);
      return 0;
    }
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = next_id_++;
      watches_[id] = Watch{fd, owner, tsfn, false};
    }
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      *err = errno;
      Drop(id);
      return 0;
    }
    return id;
  }

  // JS thread: the watch is gone when this returns (no event for it is read any more).
  void Remove(uint64_t id) {
    std::lock_guard<std::mutex> life(lifecycle_);
    Drop(id);
  }

  // JS thread, at env teardown: every watch of that env.
  void RemoveAll(EnvWatches* owner) {
    std::lock_guard<std::mutex> life(lifecycle_);
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, watch] : watches_) {
        if (watch.owner == owner) ids.push_back(id);
      }
    }
    for (uint64_t id : ids) Drop(id);
  }

 private:
  Poller() = default;

  // lifecycle_ held.
  int Start() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return errno;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;  // ids start at 1
    int err = 0;
    if (wake_fd_ < 0 || epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) err = errno;
    if (err == 0) {
      stopping_ = false;
      try {
        thread_ = std::thread(&Poller::Loop, this);
        // Named here, not in the thread, so the name is there when Add returns.
        pthread_setname_np(thread_.native_handle(), "vfio-eventfd");
      } catch (const std::system_error& e) {
        err = e.code().value();
      }
    }
    if (err != 0) CloseFds();
    return err;
  }

  // lifecycle_ held: removes one watch; the last one stops the thread.
  void Drop(uint64_t id) {
    int fd = -1;
    bool empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = watches_.find(id);
      if (it != watches_.end()) {
        fd = it->second.fd;
        watches_.erase(it);
      }
      empty = watches_.empty();
    }
    if (fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);  // ENOENT when already dropped: fine
      close(fd);
    }
    if (empty && thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
      }
      uint64_t one = 1;
      while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
      }
      thread_.join();
      CloseFds();
    }
  }

  void CloseFds() {
    if (wake_fd_ >= 0) close(wake_fd_);
    if (epfd_ >= 0) close(epfd_);
    wake_fd_ = epfd_ = -1;
  }

  // The poll thread. It reads and queues under mu_, so a watch removed under mu_ is never read
  // again, and its fd (closed after removal) can be reused without confusion.
  void Loop() {
    struct epoll_event events[32];
    for (;;) {
      int n = epoll_wait(epfd_, events, 32, -1);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (n < 0 || stopping_) return;
      for (int i = 0; i < n; i++) {
        uint64_t id = events[i].data.u64;
        if (id == 0) continue;  // the wake fd: stopping_ says why
        auto it = watches_.find(id);
        if (it == watches_.end() || it->second.dead) continue;
        Watch& watch = it->second;
        uint64_t count = 0;
        ssize_t got = read(watch.fd, &count, sizeof count);
        if (got == sizeof count) {
          auto* event = new Event{id, count};
          if (watch.tsfn.NonBlockingCall(event) != napi_ok) delete event;
        } else if (!(got < 0 && (errno == EAGAIN || errno == EINTR)) ||
                   (events[i].events & (EPOLLERR | EPOLLHUP))) {
          // Not an eventfd after all (a pipe, a hung-up fd): stop polling it, or the
          // level-triggered wait would spin. Its fd is closed when the watch is removed.
          epoll_ctl(epfd_, EPOLL_CTL_DEL, watch.fd, nullptr);
          watch.dead = true;
        }
      }
    }
  }

  std::mutex lifecycle_;  // serializes Add/Remove and the thread's start and stop (JS threads)
  std::mutex mu_;         // guards watches_ and stopping_; held by the poll thread while it reads
  std::unordered_map<uint64_t, Watch> watches_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  int epfd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

// Runs on the env's JS thread for each event the poll thread queued. Plain N-API calls, no C++
// exceptions: this also runs while a worker is being terminated, where every call may fail and
// must then just drop the event. env is null when Node drains the queue at teardown.
void Deliver(Napi::Env env, Napi::Function, EnvWatches* watches, Event* event) {
  std::unique_ptr<Event> owned(event);
  if (env == nullptr || watches == nullptr) return;
  auto it = watches->callbacks.find(owned->id);
  if (it == watches->callbacks.end()) return;  // stopped after the event was queued
  napi_value callback = it->second.Value();
  napi_value argv[1];
  napi_value recv;
  if (napi_create_bigint_uint64(env, owned->count, &argv[0]) != napi_ok) return;
  if (napi_get_undefined(env, &recv) != napi_ok) return;
  if (napi_call_function(env, recv, callback, 1, argv, nullptr) == napi_pending_exception) {
    // The callback threw: an uncaught exception, as for any event listener.
    napi_value error = nullptr;
    napi_valuetype type = napi_undefined;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr &&
        napi_typeof(env, error, &type) == napi_ok && type != napi_undefined) {
      napi_fatal_exception(env, error);
    }
  }
}

struct StopData {
  EnvWatches* watches;
  uint64_t id;
  bool stopped;
};

Napi::Value StopWatch(const Napi::CallbackInfo& info) {
  auto* data = static_cast<StopData*>(info.Data());
  if (!data->stopped) {
    data->stopped = true;
    Poller::Instance().Remove(data->id);
    data->watches->callbacks.erase(data->id);
  }
  return info.Env().Undefined();
}

Napi::Value EventfdWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Function onEvent = ArgFunction(info, 1, "onEvent");
  auto* watches = static_cast<EnvWatches*>(info.Data());
  if (!watches->hasTsfn) {
    watches->tsfn = DeliverFunction::New(env, "vfio-spapr:eventfdWatch", 0, 1, watches);
    watches->tsfn.Unref(env);
    watches->hasTsfn = true;
  }
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) ThrowSystemError(env, errno, "fcntl");
  int flags = fcntl(dup, F_GETFL);
  if (flags < 0 || fcntl(dup, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(dup);
    ThrowSystemError(env, err, "fcntl");
  }
  // The stop function first: once the watch exists nothing below may throw.
  auto* data = new StopData{watches, 0, true};
  Napi::Function stop;
  try {
    stop = Napi::Function::New(env, StopWatch, "stop", data);
    // The data lives as long as the stop function (which may outlive the handle object).
    stop.AddFinalizer([](Napi::Env, StopData* d) { delete d; }, data);
  } catch (...) {
    delete data;
    close(dup);
    throw;
  }
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("stop", stop);
  Napi::FunctionReference callback = Napi::Persistent(onEvent);
  int err = 0;
  uint64_t id = Poller::Instance().Add(dup, watches, watches->tsfn, &err);
  if (id == 0) ThrowSystemError(env, err, "epoll_ctl");
  // No event reaches JS before this returns: delivery needs this thread's event loop.
  watches->callbacks.emplace(id, std::move(callback));
  data->id = id;
  data->stopped = false;
  return handle;
}

void CleanupEnv(void* arg) {
  auto* watches = static_cast<EnvWatches*>(arg);
  Poller::Instance().RemoveAll(watches);
  delete watches;
}

}  // namespace

void InitEventfdWatch(Napi::Env env, Napi::Object exports) {
  auto* watches = new EnvWatches;
  if (napi_add_env_cleanup_hook(env, CleanupEnv, watches) != napi_ok) {
    delete watches;
    ThrowNativeError(env, "ERR_VFIO_NATIVE_INIT", "napi_add_env_cleanup_hook failed");
  }
  exports.Set("eventfdWatch", Napi::Function::New(env, EventfdWatch, "eventfdWatch", watches));
}

}  // namespace vfio

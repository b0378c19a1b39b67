// The group (/dev/vfio/N): open, status, container attach/detach, device fds.
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "ioctl.h"

namespace vfio {
namespace {

// Longest device name accepted by VFIO_GROUP_GET_DEVICE_FD (bytes, without the NUL).
constexpr size_t kMaxDeviceName = 255;

Napi::Value OpenGroup(const Napi::CallbackInfo& info) {
  int group = static_cast<int>(ArgInteger(info, 0, "group", 0, INT32_MAX));
  std::string path = "/dev/vfio/" + std::to_string(group);
  int fd;
  do {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowSystemError(info.Env(), errno, "open", nullptr, path.c_str());
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value GroupGetStatus(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  struct vfio_group_status status;
  memset(&status, 0, sizeof status);
  status.argsz = sizeof status;
  VFIO_VOID(info.Env(), fd, VFIO_GROUP_GET_STATUS, &status);
  return Napi::Number::New(info.Env(), status.flags);
}

Napi::Value GroupSetContainer(const Napi::CallbackInfo& info) {
  int groupFd = ArgFd(info, 0, "groupFd");
  int containerFd = ArgFd(info, 1, "containerFd");
  VFIO_VOID(info.Env(), groupFd, VFIO_GROUP_SET_CONTAINER, &containerFd);
  return info.Env().Undefined();
}

Napi::Value GroupUnsetContainer(const Napi::CallbackInfo& info) {
  int groupFd = ArgFd(info, 0, "groupFd");
  VFIO_VOID(info.Env(), groupFd, VFIO_GROUP_UNSET_CONTAINER, 0UL);
  return info.Env().Undefined();
}

Napi::Value GroupGetDeviceFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int groupFd = ArgFd(info, 0, "groupFd");
  std::string name = ArgString(info, 1, "name");
  if (name.empty() || name.size() > kMaxDeviceName) {
    ThrowArgRange(env, "The \"name\" argument must be 1 to " + std::to_string(kMaxDeviceName) +
                           " bytes long. Received " + std::to_string(name.size()) + " bytes");
  }
  if (name.find('\0') != std::string::npos) {
    ThrowArgValue(env, "The \"name\" argument must not contain NUL characters");
  }
  // The result is the new device fd (the kernel opens it O_CLOEXEC).
  int fd = VFIO_RESULT(env, groupFd, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(name.c_str()));
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitGroup(Napi::Env env, Napi::Object exports) {
  exports.Set("openGroup", Napi::Function::New(env, OpenGroup, "openGroup"));
  exports.Set("groupGetStatus", Napi::Function::New(env, GroupGetStatus, "groupGetStatus"));
  exports.Set("groupSetContainer",
              Napi::Function::New(env, GroupSetContainer, "groupSetContainer"));
  exports.Set("groupUnsetContainer",
              Napi::Function::New(env, GroupUnsetContainer, "groupUnsetContainer"));
  exports.Set("groupGetDeviceFd", Napi::Function::New(env, GroupGetDeviceFd, "groupGetDeviceFd"));
}

}  // namespace vfio

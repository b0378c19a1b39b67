// Resets through the device fd: VFIO_DEVICE_RESET (the function-level reset the kernel has for
// the device), VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (the devices, and their groups, that a reset
// of the device's slot or bus also resets) and VFIO_DEVICE_PCI_HOT_RESET (that reset, given
// the fds of every group involved).
#include <errno.h>
#include <linux/vfio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "ioctl.h"

namespace vfio {
namespace {

// Largest device list asked for, and group fd list passed, in one call.
constexpr int64_t kMaxHotResetDevices = 4096;

Napi::Value DeviceReset(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  VFIO_VOID(info.Env(), fd, VFIO_DEVICE_RESET, 0UL);
  return info.Env().Undefined();
}

// Asks with room for `capacity` devices. The kernel answers ENOSPC, with the count it needs
// in the header, when they do not fit: that answer is returned (devices null), not thrown,
// so the caller can ask again with that count.
Napi::Value DeviceGetPciHotResetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  const auto capacity =
      static_cast<size_t>(ArgInteger(info, 1, "capacity", 0, kMaxHotResetDevices));
  const size_t total =
      sizeof(struct vfio_pci_hot_reset_info) + capacity * sizeof(struct vfio_pci_dependent_device);
  std::vector<unsigned char> bytes(total, 0);
  struct vfio_pci_hot_reset_info hdr;
  memset(&hdr, 0, sizeof hdr);
  hdr.argsz = static_cast<uint32_t>(total);
  memcpy(bytes.data(), &hdr, sizeof hdr);
  const int rc = ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, bytes.data());
  const int err = errno;
  if (rc < 0 && err != ENOSPC) {
    ThrowSystemError(env, err, "ioctl", "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO");
  }
  if (rc > 0) {
    ThrowUnexpectedReturn(env, rc, "ioctl", "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO");
  }
  memcpy(&hdr, bytes.data(), sizeof hdr);
  Napi::Object result = Napi::Object::New(env);
  result.Set("flags", Napi::Number::New(env, hdr.flags));
  result.Set("count", Napi::Number::New(env, hdr.count));
  if (rc < 0) {
    result.Set("devices", env.Null());
    return result;
  }
  const size_t n = std::min<size_t>(hdr.count, capacity);
  Napi::Array devices = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    struct vfio_pci_dependent_device dev;
    memcpy(&dev, bytes.data() + sizeof hdr + i * sizeof dev, sizeof dev);
    Napi::Object d = Napi::Object::New(env);
    d.Set("groupId", Napi::Number::New(env, dev.group_id));
    d.Set("segment", Napi::Number::New(env, dev.segment));
    d.Set("bus", Napi::Number::New(env, dev.bus));
    d.Set("devfn", Napi::Number::New(env, dev.devfn));
    devices.Set(static_cast<uint32_t>(i), d);
  }
  result.Set("devices", devices);
  return result;
}

// struct vfio_pci_hot_reset followed by the group fds.
Napi::Value DevicePciHotReset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Array list = ArgArray(info, 1, "groupFds");
  if (list.Length() > kMaxHotResetDevices) {
    ThrowArgRange(env, "The \"groupFds\" argument must hold at most " +
                           std::to_string(kMaxHotResetDevices) + " fds. Received " +
                           std::to_string(list.Length()));
  }
  std::vector<int32_t> fds;
  for (uint32_t i = 0; i < list.Length(); i++) {
    fds.push_back(static_cast<int32_t>(
        ValueInteger(env, list.Get(i), "groupFds[" + std::to_string(i) + "]", -1, INT32_MAX)));
  }
  const size_t total = sizeof(struct vfio_pci_hot_reset) + fds.size() * sizeof(int32_t);
  std::vector<unsigned char> bytes(total, 0);
  struct vfio_pci_hot_reset hdr;
  memset(&hdr, 0, sizeof hdr);
  hdr.argsz = static_cast<uint32_t>(total);
  hdr.count = static_cast<uint32_t>(fds.size());
  memcpy(bytes.data(), &hdr, sizeof hdr);
  if (!fds.empty()) memcpy(bytes.data() + sizeof hdr, fds.data(), fds.size() * sizeof(int32_t));
  VFIO_VOID(env, fd, VFIO_DEVICE_PCI_HOT_RESET, bytes.data());
  return env.Undefined();
}

}  // namespace

void InitHotReset(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceReset", Napi::Function::New(env, DeviceReset, "deviceReset"));
  exports.Set("deviceGetPciHotResetInfo",
              Napi::Function::New(env, DeviceGetPciHotResetInfo, "deviceGetPciHotResetInfo"));
  exports.Set("devicePciHotReset",
              Napi::Function::New(env, DevicePciHotReset, "devicePciHotReset"));
}

}  // namespace vfio

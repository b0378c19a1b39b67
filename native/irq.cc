// A device's interrupts: VFIO_DEVICE_GET_IRQ_INFO and VFIO_DEVICE_SET_IRQS with each of its
// data types (none, bools, eventfds), marshalled as the kernel reads them.
#include <linux/vfio.h>
#include <stddef.h>
#include <string.h>

#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "ioctl.h"

namespace vfio {
namespace {

// Largest data list for one VFIO_DEVICE_SET_IRQS.
constexpr int64_t kMaxIrqCount = 65536;

Napi::Value DeviceGetIrqInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct vfio_irq_info irq;
  memset(&irq, 0, sizeof irq);
  irq.argsz = sizeof irq;
  irq.index = ArgU32(info, 1, "index");
  VFIO_VOID(env, fd, VFIO_DEVICE_GET_IRQ_INFO, &irq);
  Napi::Object result = Napi::Object::New(env);
  result.Set("index", Napi::Number::New(env, irq.index));
  result.Set("flags", Napi::Number::New(env, irq.flags));
  result.Set("count", Napi::Number::New(env, irq.count));
  return result;
}

// The data array of a SET_IRQS: exactly `count` items, each checked by `item`.
template <typename Item>
std::vector<unsigned char> IrqData(const Napi::CallbackInfo& info, uint32_t count, Item item) {
  Napi::Env env = info.Env();
  if (IsMissing(info, 5)) {
    ThrowArgType(env,
                 "The \"data\" argument must be an instance of Array when flags has "
                 "VFIO_IRQ_SET_DATA_EVENTFD or VFIO_IRQ_SET_DATA_BOOL. Received undefined");
  }
  Napi::Array list = ArgArray(info, 5, "data");
  if (list.Length() != count) {
    ThrowArgRange(env, "The \"data\" argument must hold exactly count (" + std::to_string(count) +
                           ") items. Received " + std::to_string(list.Length()));
  }
  if (count > kMaxIrqCount) {
    ThrowArgRange(env, "The \"count\" argument must be <= " + std::to_string(kMaxIrqCount));
  }
  std::vector<unsigned char> bytes;
  for (uint32_t i = 0; i < count; i++) item(bytes, list.Get(i), "data[" + std::to_string(i) + "]");
  return bytes;
}

// struct vfio_irq_set followed by, for DATA_EVENTFD, count s32 fds (-1 de-assigns a vector);
// for DATA_BOOL, count u8 (1: act on that vector); for DATA_NONE, nothing.
Napi::Value DeviceSetIrqs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t index = ArgU32(info, 1, "index");
  uint32_t start = ArgU32(info, 2, "start");
  uint32_t count = ArgU32(info, 3, "count");
  uint32_t flags = ArgU32(info, 4, "flags");
  std::vector<unsigned char> data;
  if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
    data = IrqData(info, count, [&](auto& bytes, const Napi::Value& v, const std::string& name) {
      int32_t efd = static_cast<int32_t>(ValueInteger(env, v, name, -1, INT32_MAX));
      const auto* p = reinterpret_cast<const unsigned char*>(&efd);
      bytes.insert(bytes.end(), p, p + sizeof efd);
    });
  } else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
    data = IrqData(info, count, [&](auto& bytes, const Napi::Value& v, const std::string& name) {
      if (!v.IsBoolean()) {
        ThrowArgType(env, "The \"" + name + "\" argument must be of type boolean. " + Describe(v));
      }
      bytes.push_back(v.As<Napi::Boolean>().Value() ? 1 : 0);
    });
  } else if (!IsMissing(info, 5)) {
    ThrowArgValue(env,
                  "The \"data\" argument is only for flags with VFIO_IRQ_SET_DATA_EVENTFD or "
                  "VFIO_IRQ_SET_DATA_BOOL");
  }
  const size_t total = sizeof(struct vfio_irq_set) + data.size();
  std::vector<unsigned char> bytes(total, 0);
  struct vfio_irq_set set;
  memset(&set, 0, sizeof set);
  set.argsz = static_cast<uint32_t>(total);
  set.flags = flags;
  set.index = index;
  set.start = start;
  set.count = count;
  memcpy(bytes.data(), &set, sizeof set);
  if (!data.empty())
    memcpy(bytes.data() + offsetof(struct vfio_irq_set, data), data.data(), data.size());
  VFIO_VOID(env, fd, VFIO_DEVICE_SET_IRQS, bytes.data());
  return env.Undefined();
}

}  // namespace

void InitIrq(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceGetIrqInfo", Napi::Function::New(env, DeviceGetIrqInfo, "deviceGetIrqInfo"));
  exports.Set("deviceSetIrqs", Napi::Function::New(env, DeviceSetIrqs, "deviceSetIrqs"));
}

}  // namespace vfio

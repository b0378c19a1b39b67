#include "guest_memory.h"

#include <algorithm>

#include "args.h"
#include "errors.h"

namespace vfio {

bool GuestMemory::Add(uint64_t gpa, uint64_t size, uint64_t host, uint64_t backingPageSize,
                      uint32_t* id) {
  auto at = std::lower_bound(slots_.begin(), slots_.end(), gpa,
                             [](const GuestSlot& s, uint64_t g) { return s.gpa < g; });
  if (at != slots_.end() && at->gpa - gpa < size) return false;
  if (at != slots_.begin() && gpa - std::prev(at)->gpa < std::prev(at)->size) return false;
  *id = nextId_++;
  slots_.insert(at, GuestSlot{*id, gpa, size, host, backingPageSize, 0});
  lastHit_ = 0;
  return true;
}

GuestSlot* GuestMemory::Find(uint64_t gpa) {
  if (lastHit_ < slots_.size()) {
    GuestSlot& s = slots_[lastHit_];
    if (gpa - s.gpa < s.size && gpa >= s.gpa) return &s;
  }
  auto at = std::upper_bound(slots_.begin(), slots_.end(), gpa,
                             [](uint64_t g, const GuestSlot& s) { return g < s.gpa; });
  if (at == slots_.begin()) return nullptr;
  --at;
  if (gpa - at->gpa >= at->size) return nullptr;
  lastHit_ = static_cast<size_t>(at - slots_.begin());
  return &*at;
}

GuestSlot* GuestMemory::ById(uint32_t id) {
  for (GuestSlot& s : slots_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

bool GuestMemory::Remove(uint32_t id) {
  auto at =
      std::find_if(slots_.begin(), slots_.end(), [id](const GuestSlot& s) { return s.id == id; });
  if (at == slots_.end()) return true;
  if (at->users > 0) return false;
  slots_.erase(at);
  lastHit_ = 0;
  return true;
}

namespace {

// A random 128-bit tag: a value from elsewhere is never taken for a guest memory map.
const napi_type_tag kGuestMemoryTag = {0x3e1f9a7c5d2b4e60ULL, 0x8c4d17a2f05b9e3bULL};

using Holder = std::shared_ptr<GuestMemory>;

Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto external = Napi::External<Holder>::New(env, new Holder(std::make_shared<GuestMemory>()),
                                              [](Napi::Env, Holder* holder) { delete holder; });
  external.TypeTag(&kGuestMemoryTag);
  return external;
}

uint32_t ArgSlotId(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<uint32_t>(ArgInteger(info, i, "slot", 1, UINT32_MAX));
}

Napi::Value AddSlot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<GuestMemory> memory = ArgGuestMemory(info, 0);
  uint64_t gpa = ArgU64(info, 1, "gpa");
  uint64_t size = ArgU64(info, 2, "size");
  uint64_t host = ArgU64(info, 3, "hostAddress");
  uint64_t backing = ArgU64(info, 4, "backingPageSize");
  if (size == 0 || gpa + size < gpa || host + size < host) {
    ThrowArgRange(env, "The slot must be non-empty and must not wrap past 2^64");
  }
  uint32_t id = 0;
  if (!memory->Add(gpa, size, host, backing, &id)) {
    ThrowNativeError(env, "ERR_VFIO_NATIVE_SLOT_OVERLAP", "the slot overlaps another slot");
  }
  return Napi::Number::New(env, id);
}

Napi::Value RemoveSlot(const Napi::CallbackInfo& info) {
  std::shared_ptr<GuestMemory> memory = ArgGuestMemory(info, 0);
  uint32_t id = ArgSlotId(info, 1);
  GuestSlot* slot = memory->ById(id);
  uint64_t users = slot == nullptr ? 0 : slot->users;
  if (users == 0) memory->Remove(id);
  return Napi::Number::New(info.Env(), static_cast<double>(users));
}

Napi::Value SlotUsers(const Napi::CallbackInfo& info) {
  std::shared_ptr<GuestMemory> memory = ArgGuestMemory(info, 0);
  GuestSlot* slot = memory->ById(ArgSlotId(info, 1));
  return Napi::Number::New(info.Env(), slot == nullptr ? 0 : static_cast<double>(slot->users));
}

Napi::Value Translate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<GuestMemory> memory = ArgGuestMemory(info, 0);
  uint64_t gpa = ArgU64(info, 1, "gpa");
  GuestSlot* slot = memory->Find(gpa);
  if (slot == nullptr) return env.Undefined();
  return Napi::BigInt::New(env, slot->host + (gpa - slot->gpa));
}

}  // namespace

std::shared_ptr<GuestMemory> ArgGuestMemory(const Napi::CallbackInfo& info, size_t i) {
  Napi::Value value = info[i];
  if (value.IsExternal() && value.As<Napi::External<Holder>>().CheckTypeTag(&kGuestMemoryTag)) {
    return *value.As<Napi::External<Holder>>().Data();
  }
  ThrowArgType(info.Env(),
               "The \"memory\" argument must be a guest memory map from guestMemoryCreate(). " +
                   Describe(value));
}

void InitGuestMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("guestMemoryCreate", Napi::Function::New(env, Create, "guestMemoryCreate"));
  exports.Set("guestMemoryAddSlot", Napi::Function::New(env, AddSlot, "guestMemoryAddSlot"));
  exports.Set("guestMemoryRemoveSlot",
              Napi::Function::New(env, RemoveSlot, "guestMemoryRemoveSlot"));
  exports.Set("guestMemorySlotUsers", Napi::Function::New(env, SlotUsers, "guestMemorySlotUsers"));
  exports.Set("guestMemoryTranslate", Napi::Function::New(env, Translate, "guestMemoryTranslate"));
}

}  // namespace vfio

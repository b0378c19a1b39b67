// The N-API surface of guest TCE tables (see guest_table.h). A refusal of the guest's
// request throws ERR_VFIO_NATIVE_GUEST_REFUSED with `reason` and `index`; a refusal by the
// kernel throws the errno as every native call does, with `index` (the first entry of the run
// it refused). In both cases the entries before `index` are done.
#include <stdint.h>

#include <mutex>
#include <unordered_set>

#include "args.h"
#include "errors.h"
#include "guest_table.h"
#include "guest_table_ops.h"
#include "ioctl.h"

namespace vfio {
namespace {

// H_PUT_TCE_INDIRECT's list holds at most 512 TCEs: one 4 KiB page.
constexpr uint64_t kMaxIndirect = 512;
constexpr uint64_t kListAlign = 4096;

using Holder = std::shared_ptr<GuestTable>;

// The tables this process made, by their External's data. A value is taken for a table only
// if its External's data is in this set: napi's object type tags cost more than a put's own
// work under emulation (measured in the guest: 2.3 us a call), this one lookup almost nothing.
// Process-wide behind a mutex, as worker_threads make tables too.
std::mutex& LiveLock() {
  static std::mutex mutex;
  return mutex;
}

std::unordered_set<const Holder*>& Live() {
  static std::unordered_set<const Holder*> live;
  return live;
}

GuestTable& ArgTable(const Napi::CallbackInfo& info, size_t i) {
  void* data = nullptr;
  if (napi_get_value_external(info.Env(), info[i], &data) == napi_ok) {
    std::lock_guard<std::mutex> guard(LiveLock());
    if (Live().count(static_cast<const Holder*>(data)) != 0) return **static_cast<Holder*>(data);
  }
  ThrowArgType(info.Env(),
               "The \"table\" argument must be a guest TCE table from "
               "guestTableCreate(). " +
                   Describe(info[i]));
}

// The container fd, or -1: record the ioctls instead (the host tests' fake kernel).
int ArgContainerFd(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int>(ArgInteger(info, i, "fd", -1, INT32_MAX));
}

[[noreturn]] void ThrowRefusal(Napi::Env env, Refusal refusal, uint64_t index) {
  Napi::Error error = Napi::Error::New(
      env, std::string("the guest's TCE request is refused: ") + RefusalName(refusal));
  error.Value().Set("code", Napi::String::New(env, "ERR_VFIO_NATIVE_GUEST_REFUSED"));
  error.Value().Set("reason", Napi::String::New(env, RefusalName(refusal)));
  error.Value().Set("index", Napi::Number::New(env, static_cast<double>(index)));
  throw error;
}

void Finish(Napi::Env env, const BatchOutcome& outcome) {
  if (outcome.ioctl != nullptr) {
    Napi::Error error = IoctlError(env, outcome.kernelResult, outcome.kernelErrno, outcome.ioctl);
    error.Value().Set("index", Napi::Number::New(env, static_cast<double>(outcome.index)));
    throw error;
  }
  if (outcome.refusal != Refusal::kNone) ThrowRefusal(env, outcome.refusal, outcome.index);
}

void Apply(const Napi::CallbackInfo& info, GuestTable& table, int fd, uint64_t ioba,
           const TceSource& source, uint64_t count) {
  Refusal range = CheckIobaRange(table, ioba, count);
  if (range != Refusal::kNone) ThrowRefusal(info.Env(), range, 0);
  Finish(info.Env(), ApplyBatch(table, fd, ioba, source, count));
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<GuestMemory> memory = ArgGuestMemory(info, 0);
  uint64_t start = ArgU64(info, 1, "start");
  unsigned pageShift = static_cast<unsigned>(ArgInteger(info, 2, "pageShift", 12, 40));
  uint64_t size = ArgU64(info, 3, "size");
  uint64_t pageSize = uint64_t{1} << pageShift;
  if (size < pageSize || (size & (pageSize - 1)) != 0 || (start & (pageSize - 1)) != 0 ||
      start + size < start) {
    ThrowArgRange(env, "The window must be whole pages, page aligned, below 2^64");
  }
  auto* holder =
      new Holder(std::make_shared<GuestTable>(memory, start, pageShift, size >> pageShift));
  {
    std::lock_guard<std::mutex> guard(LiveLock());
    Live().insert(holder);
  }
  return Napi::External<Holder>::New(env, holder, [](Napi::Env, Holder* dead) {
    {
      std::lock_guard<std::mutex> guard(LiveLock());
      Live().erase(dead);
    }
    delete dead;
  });
}

Napi::Value Put(const Napi::CallbackInfo& info) {
  GuestTable& table = ArgTable(info, 0);
  int fd = ArgContainerFd(info, 1);
  uint64_t ioba = ArgU64(info, 2, "ioba");
  TceSource source;
  source.value = ArgU64(info, 3, "tce");
  Apply(info, table, fd, ioba, source, 1);
  return info.Env().Undefined();
}

Napi::Value PutList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuestTable& table = ArgTable(info, 0);
  int fd = ArgContainerFd(info, 1);
  uint64_t ioba = ArgU64(info, 2, "ioba");
  if (!info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowArgType(
        env, "The \"tces\" argument must be an instance of BigUint64Array. " + Describe(info[3]));
  }
  Napi::BigUint64Array tces = info[3].As<Napi::BigUint64Array>();
  Napi::Value backing = tces.ArrayBuffer();
  if (backing.IsArrayBuffer() && backing.As<Napi::ArrayBuffer>().IsDetached()) {
    ThrowArgValue(env, "The \"tces\" argument is a view on a detached ArrayBuffer");
  }
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 4, "count", 0, kMaxIndirect * 1024));
  if (count > kMaxIndirect) ThrowRefusal(env, Refusal::kTooManyEntries, 0);
  if (count > tces.ElementLength()) ThrowRefusal(env, Refusal::kListShort, tces.ElementLength());
  TceSource source;
  source.host = tces.Data();
  Apply(info, table, fd, ioba, source, count);
  return env.Undefined();
}

Napi::Value PutIndirect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuestTable& table = ArgTable(info, 0);
  int fd = ArgContainerFd(info, 1);
  uint64_t ioba = ArgU64(info, 2, "ioba");
  uint64_t listGpa = ArgU64(info, 3, "listGpa");
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 4, "count", 0, kMaxIndirect * 1024));
  if (count > kMaxIndirect) ThrowRefusal(env, Refusal::kTooManyEntries, 0);
  if ((listGpa & (kListAlign - 1)) != 0) ThrowRefusal(env, Refusal::kListMisaligned, 0);
  Refusal range = CheckIobaRange(table, ioba, count);
  if (range != Refusal::kNone) ThrowRefusal(env, range, 0);
  // The list is in the guest's RAM, in a slot whose host memory is registered (pinned).
  GuestSlot* slot = table.memory->Find(listGpa);
  if (slot == nullptr) ThrowRefusal(env, Refusal::kListOutsideSlots, 0);
  uint64_t available = (slot->size - (listGpa - slot->gpa)) / 8;
  if (count > available) ThrowRefusal(env, Refusal::kListShort, available);
  TceSource source;
  source.bigEndian = reinterpret_cast<const uint8_t*>(slot->host + (listGpa - slot->gpa));
  Finish(env, ApplyBatch(table, fd, ioba, source, count));
  return env.Undefined();
}

Napi::Value Stuff(const Napi::CallbackInfo& info) {
  GuestTable& table = ArgTable(info, 0);
  int fd = ArgContainerFd(info, 1);
  uint64_t ioba = ArgU64(info, 2, "ioba");
  TceSource source;
  source.value = ArgU64(info, 3, "value");
  source.uniform = true;
  uint64_t count = static_cast<uint64_t>(ArgInteger(info, 4, "count", 0, INT64_C(1) << 53));
  Apply(info, table, fd, ioba, source, count);
  return info.Env().Undefined();
}

Napi::Value Get(const Napi::CallbackInfo& info) {
  GuestTable& table = ArgTable(info, 0);
  uint64_t ioba = ArgU64(info, 1, "ioba");
  Refusal range = CheckIobaRange(table, ioba, 1);
  if (range != Refusal::kNone) ThrowRefusal(info.Env(), range, 0);
  return Napi::BigInt::New(info.Env(), table.shadow.Get((ioba - table.start) >> table.pageShift));
}

// What the device reaches at a bus address of the window: [tce, host address], or undefined.
Napi::Value Translate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GuestTable& table = ArgTable(info, 0);
  uint64_t iova = ArgU64(info, 1, "iova");
  if (iova < table.start || ((iova - table.start) >> table.pageShift) >= table.shadow.entries()) {
    return env.Undefined();
  }
  uint64_t tce = table.shadow.Get((iova - table.start) >> table.pageShift);
  GuestSlot* slot = nullptr;
  uint64_t host = 0;
  if ((tce & 3) == 0 || CheckTce(table, tce, &slot, &host) != Refusal::kNone) {
    return env.Undefined();
  }
  Napi::BigUint64Array result = Napi::BigUint64Array::New(env, 2);
  result[0] = tce;
  result[1] = host + ((iova - table.start) & (table.pageSize - 1));
  return result;
}

Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ArgTable(info, 0).live));
}

Napi::Value ClearOrReinstall(const Napi::CallbackInfo& info, bool reinstall) {
  Napi::Env env = info.Env();
  GuestTable& table = ArgTable(info, 0);
  int fd = ArgContainerFd(info, 1);
  const char* ioctlName = nullptr;
  int err = reinstall ? ReinstallTable(table, fd, &ioctlName) : ClearTable(table, fd, &ioctlName);
  if (err != 0) ThrowSystemError(env, err, "ioctl", ioctlName);
  return env.Undefined();
}

Napi::Value Clear(const Napi::CallbackInfo& info) { return ClearOrReinstall(info, false); }
Napi::Value Reinstall(const Napi::CallbackInfo& info) { return ClearOrReinstall(info, true); }

Napi::Value TakeOps(const Napi::CallbackInfo& info) {
  GuestTable& table = ArgTable(info, 0);
  Napi::BigUint64Array ops = Napi::BigUint64Array::New(info.Env(), table.recorded.size());
  for (size_t i = 0; i < table.recorded.size(); ++i) ops[i] = table.recorded[i];
  table.recorded.clear();
  return ops;
}

}  // namespace

void InitGuestTable(Napi::Env env, Napi::Object exports) {
  exports.Set("guestTableCreate", Napi::Function::New(env, Create, "guestTableCreate"));
  exports.Set("guestTablePut", Napi::Function::New(env, Put, "guestTablePut"));
  exports.Set("guestTablePutList", Napi::Function::New(env, PutList, "guestTablePutList"));
  exports.Set("guestTablePutIndirect",
              Napi::Function::New(env, PutIndirect, "guestTablePutIndirect"));
  exports.Set("guestTableStuff", Napi::Function::New(env, Stuff, "guestTableStuff"));
  exports.Set("guestTableGet", Napi::Function::New(env, Get, "guestTableGet"));
  exports.Set("guestTableTranslate", Napi::Function::New(env, Translate, "guestTableTranslate"));
  exports.Set("guestTableLiveCount", Napi::Function::New(env, LiveCount, "guestTableLiveCount"));
  exports.Set("guestTableClear", Napi::Function::New(env, Clear, "guestTableClear"));
  exports.Set("guestTableReinstall", Napi::Function::New(env, Reinstall, "guestTableReinstall"));
  exports.Set("guestTableTakeOps", Napi::Function::New(env, TakeOps, "guestTableTakeOps"));
}

}  // namespace vfio

// Strict argument checking: every native entry point validates each argument here
// before touching the kernel, and throws a Node-style TypeError / RangeError instead
// of ever crashing on bad input. `name` is the parameter's name for the message.
#ifndef VFIO_SPAPR_ARGS_H_
#define VFIO_SPAPR_ARGS_H_

#include <napi.h>
#include <stdint.h>

#include <string>

namespace vfio {

// A short description of a received value for error messages, e.g. "type string ('x')".
std::string Describe(const Napi::Value& value);

// True when argument i was not passed or is undefined.
bool IsMissing(const Napi::CallbackInfo& info, size_t i);

// A file descriptor: an integral Number in [0, 2^31-1].
int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name);
// An integral Number in [min, max] (both within +-2^53).
int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
                   int64_t max);
// An integral Number in [0, 2^32-1].
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);
// The same checks for a value that is not a positional argument (object fields, array items).
int64_t ValueInteger(Napi::Env env, const Napi::Value& value, const std::string& name, int64_t min,
                     int64_t max);
// A bigint in [0, 2^64-1], converted losslessly.
uint64_t ValueU64(Napi::Env env, const Napi::Value& value, const std::string& name);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name);
// A bigint in [0, max].
uint64_t ArgU64Max(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i, const char* name);
// An ArrayBuffer (not a SharedArrayBuffer, not a view) that is not detached.
Napi::ArrayBuffer ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, const char* name);
// A Uint8Array (Buffer included) whose ArrayBuffer is not detached.
Napi::Uint8Array ArgUint8Array(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace vfio

#endif  // VFIO_SPAPR_ARGS_H_

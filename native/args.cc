#include "args.h"

#include <math.h>

#include "errors.h"

namespace vfio {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

std::string TypeName(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "boolean";
    case napi_number:
      return "number";
    case napi_string:
      return "string";
    case napi_symbol:
      return "symbol";
    case napi_object:
      return "object";
    case napi_function:
      return "function";
    case napi_external:
      return "external";
    case napi_bigint:
      return "bigint";
  }
  return "unknown";
}

std::string NumberText(double d) {
  if (isnan(d)) return "NaN";
  if (isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string Quote(const std::string& name) { return "The \"" + name + "\" argument"; }

}  // namespace

std::string Describe(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined:
    case napi_null:
      return "Received " + TypeName(value);
    case napi_number:
      return "Received type number (" + NumberText(value.As<Napi::Number>().DoubleValue()) + ")";
    case napi_boolean:
      return std::string("Received type boolean (") +
             (value.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    case napi_string: {
      std::string s = value.As<Napi::String>().Utf8Value();
      if (s.size() > 28) s = s.substr(0, 25) + "...";
      return "Received type string ('" + s + "')";
    }
    case napi_bigint: {
      bool lossless = false;
      int64_t v = value.As<Napi::BigInt>().Int64Value(&lossless);
      if (lossless) return "Received type bigint (" + std::to_string(v) + "n)";
      return "Received type bigint (out of 64-bit range)";
    }
    case napi_object:
      if (value.IsArrayBuffer()) return "Received an instance of ArrayBuffer";
      if (value.IsTypedArray()) return "Received an instance of a TypedArray";
      if (value.IsArray()) return "Received an instance of Array";
      return "Received an instance of Object";
    default:
      return "Received type " + TypeName(value);
  }
}

bool IsMissing(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined();
}

int64_t ValueInteger(Napi::Env env, const Napi::Value& value, const std::string& name, int64_t min,
                     int64_t max) {
  if (!value.IsNumber()) {
    ThrowArgType(env, Quote(name) + " must be of type number. " + Describe(value));
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!isfinite(d) || trunc(d) != d) {
    ThrowArgRange(env, Quote(name) + " must be an integer. Received " + NumberText(d));
  }
  if (d < -kMaxSafe || d > kMaxSafe || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    ThrowArgRange(env, Quote(name) + " must be >= " + std::to_string(min) +
                           " and <= " + std::to_string(max) + ". Received " + NumberText(d));
  }
  return static_cast<int64_t>(d);
}

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
                   int64_t max) {
  return ValueInteger(info.Env(), info[i], name, min, max);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int>(ArgInteger(info, i, name, 0, INT32_MAX));
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<uint32_t>(ArgInteger(info, i, name, 0, UINT32_MAX));
}

uint64_t ValueU64(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsBigInt()) {
    ThrowArgType(env, Quote(name) + " must be of type bigint. " + Describe(value));
  }
  bool lossless = false;
  uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) {
    ThrowArgRange(env, Quote(name) + " must be >= 0n and <= 2n ** 64n - 1n. " + Describe(value));
  }
  return v;
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return ValueU64(info.Env(), info[i], name);
}

uint64_t ArgU64Max(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max) {
  uint64_t v = ArgU64(info, i, name);
  if (v > max) {
    ThrowArgRange(info.Env(), Quote(name) + " must be >= 0n and <= " + std::to_string(max) +
                                  "n. Received " + std::to_string(v) + "n");
  }
  return v;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) {
    ThrowArgType(info.Env(), Quote(name) + " must be of type boolean. " + Describe(info[i]));
  }
  return info[i].As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) {
    ThrowArgType(info.Env(), Quote(name) + " must be of type string. " + Describe(info[i]));
  }
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsFunction()) {
    ThrowArgType(info.Env(), Quote(name) + " must be of type function. " + Describe(info[i]));
  }
  return info[i].As<Napi::Function>();
}

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsObject() || info[i].IsFunction()) {
    ThrowArgType(info.Env(), Quote(name) + " must be of type object. " + Describe(info[i]));
  }
  return info[i].As<Napi::Object>();
}

Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) {
    ThrowArgType(info.Env(), Quote(name) + " must be an instance of Array. " + Describe(info[i]));
  }
  return info[i].As<Napi::Array>();
}

Napi::ArrayBuffer ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArrayBuffer()) {
    ThrowArgType(info.Env(),
                 Quote(name) + " must be an instance of ArrayBuffer. " + Describe(info[i]));
  }
  Napi::ArrayBuffer buffer = info[i].As<Napi::ArrayBuffer>();
  if (buffer.IsDetached()) {
    ThrowArgValue(info.Env(), Quote(name) +
                                  " is a detached ArrayBuffer (freed, unmapped "
                                  "or transferred)");
  }
  return buffer;
}

Napi::Uint8Array ArgUint8Array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowArgType(info.Env(),
                 Quote(name) + " must be an instance of Uint8Array. " + Describe(info[i]));
  }
  Napi::Uint8Array array = info[i].As<Napi::Uint8Array>();
  Napi::Value backing = array.ArrayBuffer();
  if (backing.IsArrayBuffer() && backing.As<Napi::ArrayBuffer>().IsDetached()) {
    ThrowArgValue(info.Env(), Quote(name) + " is a view on a detached ArrayBuffer");
  }
  return array;
}

}  // namespace vfio

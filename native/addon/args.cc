// Argument conversion: JS values to core types and back.
#include <cmath>
#include <string>
#include <vector>

#include "../abi/error.h"
#include "addon.h"
#include "tensor_handle.h"

namespace llmrec::addon {

// ---------------------------------------------------------------------------------------------
// Argument conversion

const Tensor& tensor_value(Napi::Env env, const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(instance(env).tensor_constructor.Value()))
    fail(op, ": '", arg, "' must be a Tensor");
  return TensorHandle::Unwrap(value.As<Napi::Object>())->tensor(op, arg);
}

const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* arg) {
  return tensor_value(info.Env(), info[index], op, arg);
}

const Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op,
                                  const char* arg) {
  if (index >= info.Length() || info[index].IsUndefined() || info[index].IsNull()) return nullptr;
  return &tensor_arg(info, index, op, arg);
}

std::vector<const Tensor*> tensor_list_arg(const Napi::Value& value, const char* op, const char* arg,
                                           bool allow_null) {
  if (!value.IsArray()) fail(op, ": '", arg, "' must be an array of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  const Napi::Function& constructor = instance(value.Env()).tensor_constructor.Value();
  std::vector<const Tensor*> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (allow_null && (item.IsNull() || item.IsUndefined())) {
      tensors.push_back(nullptr);
      continue;
    }
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    if (!item.IsObject() || !item.As<Napi::Object>().InstanceOf(constructor))
      fail(op, ": '", name, "' must be a Tensor");
    tensors.push_back(&TensorHandle::Unwrap(item.As<Napi::Object>())->tensor(op, name.c_str()));
  }
  return tensors;
}

Shape shape_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsArray()) fail(op, ": '", arg, "' must be an array of non-negative integers");
  Napi::Array array = value.As<Napi::Array>();
  Shape shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) fail(op, ": '", arg, "'[", i, "] is not a number");
    double extent = item.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(extent) || extent < 0 || std::floor(extent) != extent)
      fail(op, ": '", arg, "'[", i, "] = ", extent, " is not a non-negative integer");
    if (extent > double(kMaxElements))
      fail(op, ": '", arg, "'[", i, "] = ", extent, " is too large and would overflow memory");
    shape.push_back(int64_t(extent));
  }
  if (shape.size() > 16) fail(op, ": '", arg, "' has ", shape.size(), " axes; at most 16 are supported");
  checked_numel(shape, op);
  return shape;
}

DType dtype_arg(const Napi::Value& value, const char* op, const char* arg) {
  DType dtype;
  if (!value.IsString() || !parse_dtype(value.As<Napi::String>().Utf8Value(), &dtype))
    fail(op, ": '", arg, "' must be 'f32', 'bf16' or 'i32'");
  return dtype;
}

Device device_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsString()) fail(op, ": '", arg, "' must be a device string such as 'cpu' or 'cuda:0'");
  try {
    return parse_device(value.As<Napi::String>().Utf8Value());
  } catch (const Error& e) {
    fail(op, ": ", e.what());
  }
}

double number_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsNumber()) fail(op, ": '", arg, "' must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

int64_t integer_arg(const Napi::Value& value, const char* op, const char* arg) {
  double v = number_arg(value, op, arg);
  if (!std::isfinite(v) || std::floor(v) != v || std::fabs(v) > double(kMaxElements))
    fail(op, ": '", arg, "' must be an integer, got ", v);
  return int64_t(v);
}

bool bool_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsBoolean()) fail(op, ": '", arg, "' must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsString()) fail(op, ": '", arg, "' must be a string");
  return value.As<Napi::String>().Utf8Value();
}

uint64_t u64_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (value.IsBigInt()) {
    bool lossless = false;
    uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) fail(op, ": '", arg, "' must be a bigint in [0, 2^64)");
    return v;
  }
  if (!value.IsNumber()) fail(op, ": '", arg, "' must be a non-negative integer or a bigint");
  double v = value.As<Napi::Number>().DoubleValue();
  if (std::isnan(v)) fail(op, ": '", arg, "' is NaN; pass a non-negative integer");
  if (!std::isfinite(v) || v < 0 || std::floor(v) != v || v > double(kMaxElements))
    fail(op, ": '", arg, "' = ", v, " is not a non-negative integer up to 2^53");
  return uint64_t(v);
}

Napi::Array shape_to_js(Napi::Env env, const Shape& shape) {
  Napi::Array array = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) array.Set(uint32_t(i), Napi::Number::New(env, double(shape[i])));
  return array;
}

Napi::Value wrap_tensor(Napi::Env env, Tensor tensor, bool new_memory) {
  InstanceData& data = instance(env);
  // Only this function may construct a handle: one made by `new` from JS would hold no tensor.
  data.wrapping_tensor = true;
  Napi::Object object;
  try {
    object = data.tensor_constructor.New({});
  } catch (...) {
    data.wrapping_tensor = false;
    throw;
  }
  data.wrapping_tensor = false;
  TensorHandle::Unwrap(object)->adopt(std::move(tensor), env, new_memory);
  return object;
}

}  // namespace llmrec::addon

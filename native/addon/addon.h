// N-API glue shared by every family's bindings. This layer only converts between JS values and
// core types and turns C++ exceptions into JS Errors; all checking of shapes and dtypes belongs
// to native/ops so that it is the same for every caller.
#pragma once

// An error that can no longer be thrown into JS (the environment of a terminated worker is being
// torn down) is dropped instead of escaping as a C++ exception that aborts the whole process.
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../abi/options.h"
#include "../core/context.h"
#include "../core/tensor.h"

namespace llmrec::addon {

// Per addon instance (the main thread and each worker_thread get their own).
struct InstanceData {
  std::shared_ptr<Context> ctx;
  Napi::FunctionReference tensor_constructor;
  bool wrapping_tensor = false;  // set while wrap_tensor() constructs a handle
};

InstanceData& instance(Napi::Env env);
inline Context& context(Napi::Env env) { return *instance(env).ctx; }

// Runs `body`, turning any C++ exception into a JS Error with the same message: native failures
// never abort the process.
template <class Body>
Napi::Value guard(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// --- JS value -> core type. `op` and `arg` name the caller in error messages.
const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* arg);
const Tensor& tensor_value(Napi::Env env, const Napi::Value& value, const char* op, const char* arg);
const Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op,
                                  const char* arg);
// An array of Tensors; with allow_null, null/undefined entries come back as nullptr.
std::vector<const Tensor*> tensor_list_arg(const Napi::Value& value, const char* op, const char* arg,
                                           bool allow_null = false);
Shape shape_arg(const Napi::Value& value, const char* op, const char* arg);
DType dtype_arg(const Napi::Value& value, const char* op, const char* arg);
Device device_arg(const Napi::Value& value, const char* op, const char* arg);
double number_arg(const Napi::Value& value, const char* op, const char* arg);
int64_t integer_arg(const Napi::Value& value, const char* op, const char* arg);
bool bool_arg(const Napi::Value& value, const char* op, const char* arg);
std::string string_arg(const Napi::Value& value, const char* op, const char* arg);
// A string naming an enum value of `names` (native/abi/options.h); anything else is an Error
// that lists the names.
template <class E, size_t N>
E enum_arg(const Napi::Value& value, const char* op, const char* arg, const EnumName<E> (&names)[N]) {
  const std::string name = string_arg(value, op, arg);
  E out{};
  if (!enum_value(names, name.c_str(), &out))
    fail(op, ": unknown ", arg, " '", name, "'; expected ", enum_choices(names));
  return out;
}
// A seed or counter offset: a non-negative integer number (up to 2^53) or a bigint (< 2^64).
uint64_t u64_arg(const Napi::Value& value, const char* op, const char* arg);

// --- core type -> JS value
// `new_memory`: the tensor owns freshly allocated storage (not a view or a shared handle).
Napi::Value wrap_tensor(Napi::Env env, Tensor tensor, bool new_memory = true);
Napi::Array shape_to_js(Napi::Env env, const Shape& shape);

// Each family's binding file registers its functions with LLMREC_REGISTER_BINDINGS(family, f, g,
// ...): each is exported under the camelCase form of its C++ name (attention_forward becomes
// attentionForward), once per instance at module initialisation.
using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct BindingsRegistration {
  // `names` lists the C++ names of `functions`, comma-separated (the macro's #__VA_ARGS__).
  BindingsRegistration(const char* family, const char* names, std::initializer_list<BindingFn> functions);
};
#define LLMREC_REGISTER_BINDINGS(family, ...) \
  static ::llmrec::addon::BindingsRegistration llmrec_bindings_##family(#family, #__VA_ARGS__, {__VA_ARGS__})

// Registers the core's own functions (core_functions.cc).
void register_core(Napi::Env env, Napi::Object exports);

// exports[name] = fn, wrapped in guard().
void export_function(Napi::Env env, Napi::Object exports, const char* name,
                     std::function<Napi::Value(const Napi::CallbackInfo&)> fn);

}  // namespace llmrec::addon

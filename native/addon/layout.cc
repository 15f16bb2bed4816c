// Bindings of the layout family.
#include "../ops/layout.h"
#include "../abi/error.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

std::vector<int64_t> integer_list(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsArray()) fail(op, ": '", arg, "' must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(integer_arg(array.Get(i), op, arg));
  return out;
}

// permute(x, dims)
Napi::Value permute(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(), ops::permute(context(info.Env()), tensor_arg(info, 0, "permute", "x"),
                                              integer_list(info[1], "permute", "dims")));
}

// narrow(x, axis, start, length)
Napi::Value narrow(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "narrow";
  return wrap_tensor(
      info.Env(),
      ops::narrow(context(info.Env()), tensor_arg(info, 0, kOp, "x"), integer_arg(info[1], kOp, "axis"),
                  integer_arg(info[2], kOp, "start"), integer_arg(info[3], kOp, "length")));
}

// concat(tensors, axis)
Napi::Value concat(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(),
                     ops::concat(context(info.Env()), tensor_list_arg(info[0], "concat", "tensors"),
                                 integer_arg(info[1], "concat", "axis")));
}

// narrowBackward(grad, shape, axis, start)
Napi::Value narrow_backward(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "narrowBackward";
  return wrap_tensor(info.Env(),
                     ops::narrow_backward(context(info.Env()), tensor_arg(info, 0, kOp, "grad"),
                                          shape_arg(info[1], kOp, "shape"), integer_arg(info[2], kOp, "axis"),
                                          integer_arg(info[3], kOp, "start")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(layout, permute, narrow, concat, narrow_backward);

}  // namespace llmrec::addon

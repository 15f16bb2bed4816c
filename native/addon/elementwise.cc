// Bindings of the elementwise family.
#include <string>
#include <utility>

#include "../abi/error.h"
#include "../ops/elementwise.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

using kernels::BinaryOp;
using kernels::ReduceOp;
using kernels::UnaryOp;

BinaryOp binary_op(const Napi::Value& value) {
  return enum_arg(value, "binary", "op", kernels::kBinaryOpNames);
}
UnaryOp unary_op(const Napi::Value& value) { return enum_arg(value, "unary", "op", kernels::kUnaryOpNames); }
ReduceOp reduce_op(const Napi::Value& value) {
  return enum_arg(value, "reduce", "op", kernels::kReduceOpNames);
}

// An op that wrote into a caller's `out` returns undefined: a second handle on that storage would
// pin it until the garbage collector ran, which inside a training loop it rarely does.
Napi::Value result_of(const Napi::CallbackInfo& info, Tensor result, const Tensor* out) {
  if (out != nullptr) return info.Env().Undefined();
  return wrap_tensor(info.Env(), std::move(result));
}

// binary(op, a, b, out?) -> a new tensor, or undefined with `out`
Napi::Value binary(const Napi::CallbackInfo& info) {
  const BinaryOp op = binary_op(info[0]);
  const char* name = ops::binary_op_name(op);
  const Tensor* out = optional_tensor_arg(info, 3, name, "out");
  return result_of(info,
                   ops::binary(context(info.Env()), op, tensor_arg(info, 1, name, "a"),
                               tensor_arg(info, 2, name, "b"), out),
                   out);
}

// unary(op, x, alpha, beta, out?) -> a new tensor, or undefined with `out`
Napi::Value unary(const Napi::CallbackInfo& info) {
  const UnaryOp op = unary_op(info[0]);
  const char* name = ops::unary_op_name(op);
  const Tensor* out = optional_tensor_arg(info, 4, name, "out");
  return result_of(
      info,
      ops::unary(context(info.Env()), op, tensor_arg(info, 1, name, "x"),
                 float(number_arg(info[2], name, "alpha")), float(number_arg(info[3], name, "beta")), out),
      out);
}

// cast(x, dtype)
Napi::Value cast(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(), ops::cast(context(info.Env()), tensor_arg(info, 0, "cast", "x"),
                                           dtype_arg(info[1], "cast", "dtype")));
}

// reduce(op, x, axis | null, keepDims)
Napi::Value reduce(const Napi::CallbackInfo& info) {
  const ReduceOp op = reduce_op(info[0]);
  const char* name = ops::reduce_op_name(op);
  std::optional<int64_t> axis;
  if (!info[2].IsNull() && !info[2].IsUndefined()) axis = integer_arg(info[2], name, "axis");
  return wrap_tensor(info.Env(), ops::reduce(context(info.Env()), op, tensor_arg(info, 1, name, "x"), axis,
                                             bool_arg(info[3], name, "keepDims")));
}

// expand(x, shape)
Napi::Value expand(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(), ops::expand(context(info.Env()), tensor_arg(info, 0, "expand", "x"),
                                             shape_arg(info[1], "expand", "shape")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(elementwise, expand, binary, unary, cast, reduce);

}  // namespace llmrec::addon

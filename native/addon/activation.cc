// Bindings of the activation family (and dropout).
#include <string>

#include "../ops/activation.h"
#include "addon.h"

namespace llmrec::addon {
namespace {
using kernels::ActivationOp;

ActivationOp activation_op(const Napi::Value& value) {
  return enum_arg(value, "activation", "op", kernels::kActivationOpNames);
}

// activation(op, x, slope)
Napi::Value activation(const Napi::CallbackInfo& info) {
  const ActivationOp op = activation_op(info[0]);
  const char* name = ops::activation_name(op);
  return wrap_tensor(info.Env(), ops::activation(context(info.Env()), op, tensor_arg(info, 1, name, "x"),
                                                 float(number_arg(info[2], name, "slope"))));
}

// activationBackward(op, gradOut, x, slope)
Napi::Value activation_backward(const Napi::CallbackInfo& info) {
  const ActivationOp op = activation_op(info[0]);
  const char* name = ops::activation_name(op);
  return wrap_tensor(
      info.Env(),
      ops::activation_backward(context(info.Env()), op, tensor_arg(info, 1, name, "gradOut"),
                               tensor_arg(info, 2, name, "x"), float(number_arg(info[3], name, "slope"))));
}

// dropout(x, p, seed, offset)
Napi::Value dropout(const Napi::CallbackInfo& info) {
  return wrap_tensor(
      info.Env(), ops::dropout(context(info.Env()), tensor_arg(info, 0, "dropout", "x"),
                               float(number_arg(info[1], "dropout", "p")),
                               u64_arg(info[2], "dropout", "seed"), u64_arg(info[3], "dropout", "offset")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(activation, activation, activation_backward, dropout);

}  // namespace llmrec::addon

// Bindings of the mlp_distill family.
#include <string>

#include "../abi/error.h"
#include "../ops/mlp_distill.h"
#include "dense_glue.h"

namespace llmrec::addon {
namespace {

using kernels::DistillActivation;
using kernels::DistillLoss;

DistillActivation activation_arg(const Napi::Value& value, const char* op) {
  return enum_arg(value, op, "activation", kernels::kDistillActivationNames);
}

DistillLoss loss_arg(const Napi::Value& value, const char* op) {
  return enum_arg(value, op, "loss", kernels::kDistillLossNames);
}

Tensor optional(const Tensor* t) { return t ? *t : Tensor(); }

// mlpDistill(x, w1, b1, w2, b2, teacher, lnWeight | null, lnBias | null, lnEps, activation, slope, loss,
//            teacherGrad) -> [loss, pre, mean | null, rstd | null, hidden, outGrad, teacherGrad | null]
Napi::Value mlp_distill(const Napi::CallbackInfo& info) {
  const char* op = "mlpDistill";
  ops::MlpDistillOptions options;
  options.ln_eps = float(number_arg(info[8], op, "lnEps"));
  options.activation = activation_arg(info[9], op);
  options.slope = float(number_arg(info[10], op, "slope"));
  options.loss = loss_arg(info[11], op);
  options.teacher_grad = bool_arg(info[12], op, "teacherGrad");
  ops::MlpDistillForward r = ops::mlp_distill_forward(
      context(info.Env()), tensor_arg(info, 0, op, "x"), tensor_arg(info, 1, op, "w1"),
      tensor_arg(info, 2, op, "b1"), tensor_arg(info, 3, op, "w2"), tensor_arg(info, 4, op, "b2"),
      tensor_arg(info, 5, op, "teacher"), optional_tensor_arg(info, 6, op, "lnWeight"),
      optional_tensor_arg(info, 7, op, "lnBias"), options);
  return tensor_list(info.Env(), {r.loss, r.pre, r.mean, r.rstd, r.hidden, r.out_grad, r.teacher_grad});
}

// mlpDistillBackward(gradLoss, x, w1, w2, lnWeight | null, lnBias | null, pre, mean | null, rstd | null,
//                    hidden, outGrad, teacherGrad | null, activation, slope, wantXGrad)
//   -> [dx | null, dw1, db1, dw2, db2, dLnWeight | null, dLnBias | null, dTeacher | null]
Napi::Value mlp_distill_backward(const Napi::CallbackInfo& info) {
  const char* op = "mlpDistill backward";
  ops::MlpDistillForward saved;
  saved.pre = tensor_arg(info, 6, op, "pre");
  saved.mean = optional(optional_tensor_arg(info, 7, op, "mean"));
  saved.rstd = optional(optional_tensor_arg(info, 8, op, "rstd"));
  saved.hidden = tensor_arg(info, 9, op, "hidden");
  saved.out_grad = tensor_arg(info, 10, op, "outGrad");
  saved.teacher_grad = optional(optional_tensor_arg(info, 11, op, "teacherGrad"));
  ops::MlpDistillOptions options;
  options.activation = activation_arg(info[12], op);
  options.slope = float(number_arg(info[13], op, "slope"));
  options.teacher_grad = saved.teacher_grad.defined();
  ops::MlpDistillGrads g = ops::mlp_distill_backward(
      context(info.Env()), tensor_arg(info, 0, op, "gradLoss"), tensor_arg(info, 1, op, "x"),
      tensor_arg(info, 2, op, "w1"), tensor_arg(info, 3, op, "w2"),
      optional_tensor_arg(info, 4, op, "lnWeight"), optional_tensor_arg(info, 5, op, "lnBias"), saved,
      options, bool_arg(info[14], op, "wantXGrad"));
  return tensor_list(info.Env(), {g.x, g.w1, g.b1, g.w2, g.b2, g.ln_weight, g.ln_bias, g.teacher});
}

}  // namespace

LLMREC_REGISTER_BINDINGS(mlp_distill, mlp_distill, mlp_distill_backward);

}  // namespace llmrec::addon

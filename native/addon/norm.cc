// Bindings of the norm family.
#include "../ops/norm.h"
#include "dense_glue.h"

namespace llmrec::addon {
namespace {

// norm(x, residual | null, weight, bias | null, eps, rms) -> [out, sum | null, mean | null, rstd]
Napi::Value norm(const Napi::CallbackInfo& info) {
  const bool rms = bool_arg(info[5], "norm", "rms");
  const char* op = rms ? "rmsNorm" : "layerNorm";
  ops::NormResult r =
      ops::norm_forward(context(info.Env()), rms, tensor_arg(info, 0, op, "x"),
                        optional_tensor_arg(info, 1, op, "residual"), tensor_arg(info, 2, op, "weight"),
                        optional_tensor_arg(info, 3, op, "bias"), float(number_arg(info[4], op, "eps")));
  return tensor_list(info.Env(), {r.out, r.sum, r.mean, r.rstd});
}

// normBackward(gradOut, gradSum | null, input, weight, mean | null, rstd, rms, withBias) -> [dx, dw, db |
// null]
Napi::Value norm_backward(const Napi::CallbackInfo& info) {
  const bool rms = bool_arg(info[6], "normBackward", "rms");
  const char* op = rms ? "rmsNorm backward" : "layerNorm backward";
  ops::NormGrads g =
      ops::norm_backward(context(info.Env()), rms, tensor_arg(info, 0, op, "gradOut"),
                         optional_tensor_arg(info, 1, op, "gradSum"), tensor_arg(info, 2, op, "input"),
                         tensor_arg(info, 3, op, "weight"), optional_tensor_arg(info, 4, op, "mean"),
                         tensor_arg(info, 5, op, "rstd"), bool_arg(info[7], op, "withBias"));
  return tensor_list(info.Env(), {g.input, g.weight, g.bias});
}

}  // namespace

LLMREC_REGISTER_BINDINGS(norm, norm, norm_backward);

}  // namespace llmrec::addon

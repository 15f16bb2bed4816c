// Fused MLP distillation (see native/kernels/mlp_distill.h): the forward runs both GEMMs and the
// epilogues in one submit and keeps what the backward needs; the backward runs the four GEMMs
// and the epilogues in one submit.
#pragma once

#include "../core/context.h"
#include "../kernels/mlp_distill.h"

namespace llmrec::ops {

struct MlpDistillOptions {
  kernels::DistillActivation activation = kernels::DistillActivation::Gelu;
  float slope = 0.01f;  // LeakyReLU
  kernels::DistillLoss loss = kernels::DistillLoss::Mse;
  float ln_eps = 1e-5f;
  bool teacher_grad = false;  // also produce dLoss/dteacher
};

struct MlpDistillForward {
  Tensor loss;          // f32 scalar
  Tensor pre;           // f32 [B, h]: x W1^T + b1
  Tensor mean, rstd;    // f32 [B], with LayerNorm
  Tensor hidden;        // [B, h], x's dtype
  Tensor out_grad;      // f32 [B, out]: dLoss/dy for a unit upstream gradient
  Tensor teacher_grad;  // f32 [B, out], when options.teacher_grad
};

struct MlpDistillGrads {
  Tensor x, w1, b1, w2, b2, ln_weight, ln_bias, teacher;  // x and teacher only when asked for
};

// ln_weight and ln_bias are both null (no LayerNorm) or both set.
MlpDistillForward mlp_distill_forward(Context& ctx, const Tensor& x, const Tensor& w1, const Tensor& b1,
                                      const Tensor& w2, const Tensor& b2, const Tensor& teacher,
                                      const Tensor* ln_weight, const Tensor* ln_bias,
                                      const MlpDistillOptions& options);

// `saved` is the forward's result; grad_loss is the f32 scalar upstream gradient.
MlpDistillGrads mlp_distill_backward(Context& ctx, const Tensor& grad_loss, const Tensor& x, const Tensor& w1,
                                     const Tensor& w2, const Tensor* ln_weight, const Tensor* ln_bias,
                                     const MlpDistillForward& saved, const MlpDistillOptions& options,
                                     bool want_x_grad);

}  // namespace llmrec::ops

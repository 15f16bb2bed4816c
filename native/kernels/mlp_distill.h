// Fused MLP distillation: loss(Linear2(act(LN?(Linear1(x)))), teacher) as one op, the MLPs that
// LLM-SRec and A-LLMRec train against a frozen teacher. The two GEMMs (and the four of the
// backward) come from the gemm family; this family holds the epilogues around them:
//
//   hidden_forward      pre += b1, LayerNorm statistics, hidden = act(LN(pre))     (row pass)
//   loss                y += b2, per-row loss terms AND dLoss/dy (and dLoss/dteacher) in the
//                       same pass over each row, then the mean over rows           (row pass)
//   output_grad         scales dLoss/dy by the upstream gradient, stores it in the GEMM dtype
//                       and sums it over rows for db2
//   hidden_backward     dpre from dhidden through act' and LN, with db1, dLN-weight and dLN-bias
//                       summed over fixed row blocks then in block order (deterministic)
//
// Pre-activations, the output and every gradient before its final store are f32; inputs,
// weights and parameter gradients are f32 or bf16. CPU twin native/cpu/mlp_distill.cc, CUDA twin
// cuda/mlp_distill.cu.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/host_device.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"
#include "activation.h"

namespace llmrec::kernels {

enum class DistillActivation : int32_t { Gelu = 0, LeakyRelu, Sigmoid, Relu };
inline constexpr EnumName<DistillActivation> kDistillActivationNames[] = {
    {"gelu", DistillActivation::Gelu},
    {"leaky_relu", DistillActivation::LeakyRelu},
    {"sigmoid", DistillActivation::Sigmoid},
    {"relu", DistillActivation::Relu}};
// mse: mean over all elements of (y - t)^2. cosine: mean over rows of 1 - cos(y, t), each norm
// clamped to kDistillCosineEps. normalized_mse: mean over all elements of (y/|y| - t/|t|)^2,
// each norm clamped to kDistillNormalizeEps (F.normalize).
enum class DistillLoss : int32_t { Mse = 0, Cosine, NormalizedMse };
inline constexpr EnumName<DistillLoss> kDistillLossNames[] = {{"mse", DistillLoss::Mse},
                                                              {"cosine", DistillLoss::Cosine},
                                                              {"normalized_mse", DistillLoss::NormalizedMse}};

constexpr float kDistillCosineEps = 1e-8f;
constexpr float kDistillNormalizeEps = 1e-12f;

// Rows per weight-gradient partial in hidden_backward; fixed so sums do not depend on threads.
constexpr int64_t kDistillRowBlock = 32;

// Templates on the activation so that each twin's element loops inline and vectorise.
template <DistillActivation ACT>
LLMREC_HD float distill_activate(float x, float slope) {
  if constexpr (ACT == DistillActivation::Gelu)
    return activation_math::forward<ActivationOp::GeluErf>(x, slope);
  if constexpr (ACT == DistillActivation::LeakyRelu)
    return activation_math::forward<ActivationOp::LeakyRelu>(x, slope);
  if constexpr (ACT == DistillActivation::Sigmoid) return activation_math::sigmoid(x);
  if constexpr (ACT == DistillActivation::Relu) return activation_math::forward<ActivationOp::Relu>(x, slope);
}

template <DistillActivation ACT>
LLMREC_HD float distill_activation_derivative(float x, float slope) {
  if constexpr (ACT == DistillActivation::Gelu)
    return activation_math::derivative<ActivationOp::GeluErf>(x, slope);
  if constexpr (ACT == DistillActivation::LeakyRelu)
    return activation_math::derivative<ActivationOp::LeakyRelu>(x, slope);
  if constexpr (ACT == DistillActivation::Sigmoid) {
    const float s = activation_math::sigmoid(x);
    return s * (1.0f - s);
  }
  if constexpr (ACT == DistillActivation::Relu)
    return activation_math::derivative<ActivationOp::Relu>(x, slope);
}

struct DistillHiddenParams {
  DType dtype = DType::F32;  // of bias, ln_weight, ln_bias and hidden
  DistillActivation activation = DistillActivation::Gelu;
  float slope = 0.01f;
  float* pre = nullptr;             // [rows, cols]: x W1^T on entry, x W1^T + b1 on exit (saved)
  const void* bias = nullptr;       // b1 [cols]
  const void* ln_weight = nullptr;  // optional, [cols]; LayerNorm runs exactly when it is set
  const void* ln_bias = nullptr;    // [cols], set with ln_weight
  float* mean = nullptr;            // [rows], with LayerNorm
  float* rstd = nullptr;            // [rows], with LayerNorm
  void* hidden = nullptr;           // [rows, cols]
  int64_t rows = 0, cols = 0;
  float eps = 1e-5f;
};

struct DistillLossParams {
  DType dtype = DType::F32;  // of bias and teacher
  DistillLoss loss = DistillLoss::Mse;
  float* out = nullptr;           // [rows, cols]: a W2^T on entry, dLoss/dy on exit
  const void* bias = nullptr;     // b2 [cols]
  const void* teacher = nullptr;  // [rows, cols]
  float* teacher_grad = nullptr;  // optional [rows, cols]: dLoss/dteacher
  float* loss_value = nullptr;    // [1]
  int64_t rows = 0, cols = 0;
};

struct DistillOutputGradParams {
  DType dtype = DType::F32;             // of out_grad_scaled, bias_grad and teacher_grad_scaled
  const float* grad_loss = nullptr;     // [1], the upstream gradient of the loss
  const float* out_grad = nullptr;      // [rows, cols], dLoss/dy
  const float* teacher_grad = nullptr;  // optional [rows, cols]
  void* out_grad_scaled = nullptr;      // [rows, cols]
  void* bias_grad = nullptr;            // [cols]
  void* teacher_grad_scaled = nullptr;  // set exactly when teacher_grad is
  int64_t rows = 0, cols = 0;
};

struct DistillHiddenBackwardParams {
  DType dtype = DType::F32;  // of ln_weight, ln_bias, grad_pre and the parameter gradients
  DistillActivation activation = DistillActivation::Gelu;
  float slope = 0.01f;
  const float* grad_hidden = nullptr;  // [rows, cols]
  const float* pre = nullptr;          // [rows, cols], b1 included
  const void* ln_weight = nullptr;     // optional, as in DistillHiddenParams
  const void* ln_bias = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  void* grad_pre = nullptr;        // [rows, cols]
  void* grad_bias = nullptr;       // db1 [cols]
  void* grad_ln_weight = nullptr;  // [cols], with LayerNorm
  void* grad_ln_bias = nullptr;    // [cols], with LayerNorm
  int64_t rows = 0, cols = 0;
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(distill_hidden_forward, DistillHiddenParams);
LLMREC_KERNEL_TWINS(distill_loss, DistillLossParams);
LLMREC_KERNEL_TWINS(distill_output_grad, DistillOutputGradParams);
LLMREC_KERNEL_TWINS(distill_hidden_backward, DistillHiddenBackwardParams);

}  // namespace llmrec::kernels

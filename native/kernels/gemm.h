// General matrix multiply with a fused epilogue:
//   out = act(alpha * op(A) * op(B) + beta * C + bias)
// batched over `batch` problems with per-operand batch strides (stride 0 broadcasts one matrix
// to every problem). A and B share a dtype (f32 or bf16); C, out, the pre-activation and the bias
// share another; accumulation is f32 everywhere.
#pragma once

#include <math.h>

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/host_device.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"

namespace llmrec::kernels {

enum class Activation : int32_t { None = 0, Relu, GeluErf, GeluTanh, Silu };
inline constexpr EnumName<Activation> kActivationNames[] = {{"none", Activation::None},
                                                            {"relu", Activation::Relu},
                                                            {"gelu", Activation::GeluErf},
                                                            {"gelu_tanh", Activation::GeluTanh},
                                                            {"silu", Activation::Silu}};

struct GemmParams {
  DType ab_dtype = DType::F32;
  DType c_dtype = DType::F32;  // of c, out, pre_activation and bias
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  // op(A) is m x k: A is stored [m, k] (row stride lda) or, transposed, [k, m].
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  // op(B) is k x n: B is stored [k, n] or, transposed, [n, k].
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  // c is read only when beta != 0 (it may then alias out); it shares out's layout.
  const void* c = nullptr;
  void* out = nullptr;
  int64_t ldc = 0, stride_c = 0;
  // Optional: the value before the activation, for backward; same layout as out.
  void* pre_activation = nullptr;
  const void* bias = nullptr;  // optional, [n], shared by every problem
  float alpha = 1.0f, beta = 0.0f;
  Activation activation = Activation::None;
};

// The activations and their derivatives, shared by both twins so they agree to rounding.
template <Activation ACT>
LLMREC_HD float activate(float x) {
  if constexpr (ACT == Activation::None) return x;
  if constexpr (ACT == Activation::Relu) return x > 0.0f ? x : 0.0f;
  if constexpr (ACT == Activation::GeluErf) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  if constexpr (ACT == Activation::GeluTanh) {
    const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
  }
  if constexpr (ACT == Activation::Silu) return x / (1.0f + expf(-x));
}

template <Activation ACT>
LLMREC_HD float activation_derivative(float x) {
  if constexpr (ACT == Activation::None) return 1.0f;
  if constexpr (ACT == Activation::Relu) return x > 0.0f ? 1.0f : 0.0f;
  if constexpr (ACT == Activation::GeluErf) {
    const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
    return cdf + x * pdf;
  }
  if constexpr (ACT == Activation::GeluTanh) {
    const float x2 = x * x;
    const float u = 0.79788456080286536f * (x + 0.044715f * x2 * x);
    const float t = tanhf(u);
    const float du = 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * x2);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
  }
  if constexpr (ACT == Activation::Silu) {
    const float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
  }
}

// grad_in = grad_out * act'(pre_activation), elementwise; all three share a dtype.
struct EpilogueBackwardParams {
  DType dtype = DType::F32;
  Activation activation = Activation::None;
  const void* pre_activation = nullptr;
  const void* grad_out = nullptr;
  void* grad_in = nullptr;
  int64_t numel = 0;
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(gemm, GemmParams);
LLMREC_KERNEL_TWINS(epilogue_backward, EpilogueBackwardParams);

}  // namespace llmrec::kernels

// Optimiser kernels: the fused Adam/AdamW update and the per-tensor squared norms that gradient
// clipping needs. Both read the clipping factor from device memory, so a clipped step never
// waits for the host to see the gradient norm.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

// One parameter tensor's update. With `master` set, `param` is a bf16 copy of the f32 master
// weights: the update runs on the master and the bf16 copy is rounded from it, so small steps
// are not lost to bf16 rounding (no loss scaling needed, as bf16 has f32's exponent range).
//
//   g = grad * (*grad_scale)          (+ weight_decay * w when decoupled == false: Adam's L2)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   w -= lr * (m / bias_correction1) / (sqrt(v / bias_correction2) + eps)
//   w -= lr * weight_decay * w        (before the Adam step, when decoupled: AdamW)
struct AdamParams {
  DType param_dtype = DType::F32;  // of param and grad
  void* param = nullptr;
  const void* grad = nullptr;
  float* master = nullptr;  // optional f32 master weights
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  const float* grad_scale = nullptr;  // optional device/host scalar, the clipping factor
  int64_t numel = 0;
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  float bias_correction1 = 1.0f, bias_correction2 = 1.0f;  // 1 - beta^t, computed on the host
  bool decoupled = true;
};

// out[i] = sum of squares of tensor i, accumulated in f64 on the CPU and f32 pairwise on CUDA,
// in a fixed order either way so repeated runs agree bit for bit.
struct SquaredNormParams {
  DType dtype = DType::F32;
  const void* x = nullptr;
  int64_t numel = 0;
  float* out = nullptr;  // one element
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(adam_step, AdamParams);
LLMREC_KERNEL_TWINS(squared_norm, SquaredNormParams);

}  // namespace llmrec::kernels

// LayerNorm and RMSNorm over the last axis, each with an optional fused residual add: the
// normalised value is v = x + residual (rounded to the storage dtype, so the `sum` output and the
// backward see the same v), out = norm(v) * weight (+ bias). Statistics are saved in f32 for the
// backward. A CPU twin in native/cpu/norm.cc and a CUDA twin in cuda/norm.cu.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

// What the forward and the backward share.
struct NormShape {
  DType dtype = DType::F32;  // of every tensor but the f32 statistics
  bool rms = false;          // RMSNorm: no centring and no bias
  int64_t rows = 0, cols = 0;
  const void* weight = nullptr;  // [cols]
};

struct NormForwardParams : NormShape {
  const void* x = nullptr;
  const void* residual = nullptr;  // optional
  const void* bias = nullptr;      // optional, LayerNorm only
  void* out = nullptr;
  void* sum = nullptr;    // x + residual; set exactly when residual is
  float* mean = nullptr;  // [rows], LayerNorm only
  float* rstd = nullptr;  // [rows]
  float eps = 1e-5f;
};

// dx = d(out)/dv applied to grad_out, plus grad_sum when the sum output received a gradient
// (that is also the residual's gradient). dweight and dbias are reduced over rows in two passes,
// fixed row blocks then an ordered sum over blocks, so they are deterministic without atomics.
struct NormBackwardParams : NormShape {
  const void* grad_out = nullptr;
  const void* grad_sum = nullptr;  // optional
  const void* input = nullptr;     // v: x, or x + residual
  const float* mean = nullptr;     // LayerNorm only
  const float* rstd = nullptr;
  void* grad_input = nullptr;
  void* grad_weight = nullptr;
  void* grad_bias = nullptr;  // optional
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(norm_forward, NormForwardParams);
LLMREC_KERNEL_TWINS(norm_backward, NormBackwardParams);

}  // namespace llmrec::kernels

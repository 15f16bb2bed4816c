// LayerNorm / RMSNorm with an optional fused residual add; see native/kernels/norm.h.
#pragma once

#include "../core/context.h"

namespace llmrec::ops {

struct NormResult {
  Tensor out;
  Tensor sum;   // x + residual; undefined without a residual
  Tensor mean;  // f32 [rows]; undefined for RMSNorm
  Tensor rstd;  // f32 [rows]
};

struct NormGrads {
  Tensor input, weight, bias;  // bias undefined unless requested
};

// `residual` and `bias` may be null; `bias` must be null for RMSNorm.
NormResult norm_forward(Context& ctx, bool rms, const Tensor& x, const Tensor* residual, const Tensor& weight,
                        const Tensor* bias, float eps);
// `input` is the normalised v (x or the sum); `grad_sum` may be null; `mean` is null for RMSNorm.
NormGrads norm_backward(Context& ctx, bool rms, const Tensor& grad_out, const Tensor* grad_sum,
                        const Tensor& input, const Tensor& weight, const Tensor* mean, const Tensor& rstd,
                        bool with_bias);

}  // namespace llmrec::ops

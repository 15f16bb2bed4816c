// Activations (GELU erf/tanh, ReLU, LeakyReLU, SiLU, SwiGLU) and Philox dropout; see
// native/kernels/activation.h.
#pragma once

#include <cstdint>

#include "../core/context.h"
#include "../kernels/activation.h"

namespace llmrec::ops {

const char* activation_name(kernels::ActivationOp op);
Tensor activation(Context& ctx, kernels::ActivationOp op, const Tensor& x, float slope);
Tensor activation_backward(Context& ctx, kernels::ActivationOp op, const Tensor& grad_out, const Tensor& x,
                           float slope);
// x scaled by 1/(1-p) where kept; p in [0, 1).
Tensor dropout(Context& ctx, const Tensor& x, float p, uint64_t seed, uint64_t offset);

}  // namespace llmrec::ops

// Tensor-level attention ops: validate, allocate, dispatch to the kernel twins.
#pragma once

#include <tuple>
#include <utility>

#include "../core/context.h"
#include "../kernels/attention.h"

namespace llmrec::ops {

// One options object for the forward and the backward: kernels::AttentionOptions, which the
// kernel parameters carry (native/kernels/attention.h).
using kernels::AttentionOptions;

// Returns (out [B, Hq, Lq, D], lse [B, Hq, Lq] f32).
std::pair<Tensor, Tensor> attention_forward(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                                            const AttentionOptions& options);
// Returns (dq, dk, dv) for the forward call with the same options.
std::tuple<Tensor, Tensor, Tensor> attention_backward(Context& ctx, const Tensor& q, const Tensor& k,
                                                      const Tensor& v, const Tensor& out, const Tensor& lse,
                                                      const Tensor& grad_out,
                                                      const AttentionOptions& options);
// Rotary embedding of x [B, H, L, D] at i32 positions [L] or [B, L]; `inverse` is its backward.
Tensor rope(Context& ctx, const Tensor& x, const Tensor& positions, double theta, bool inverse);

}  // namespace llmrec::ops

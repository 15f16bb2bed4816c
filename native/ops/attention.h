// Tensor-level attention ops: validate, allocate, dispatch to the kernel twins.
#pragma once

#include <optional>
#include <tuple>
#include <utility>

#include "../core/context.h"
#include "../kernels/attention.h"

namespace llmrec::ops {

// One options object for the forward and the backward. JS passes it by name: its TypeScript
// twin is AttentionNativeOptions in lib/ops/attention.ts, and fields() is the one list the addon
// reads (a missing, mistyped or unknown field is an Error naming it).
struct AttentionOptions {
  bool causal = false;
  const Tensor* key_lengths = nullptr;  // i32 [B]; null: no key padding
  bool left_padding = false;
  std::optional<double> scale;  // default 1 / sqrt(D)
  double dropout = 0.0;
  uint64_t seed = 0, offset = 0;

  template <class F>
  void fields(F& f) {
    f("causal", causal);
    f("keyLengths", key_lengths);
    f("leftPadding", left_padding);
    f("scale", scale);
    f("dropout", dropout);
    f("seed", seed);
    f("offset", offset);
  }
};

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

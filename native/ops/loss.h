// Losses; see native/kernels/loss.h. Every loss comes back in f32: a scalar for 'mean' and
// 'sum', one value per row (or element) for 'none'.
#pragma once

#include <cstdint>

#include "../core/context.h"
#include "../kernels/loss.h"

namespace llmrec::ops {

using kernels::CrossEntropyOptions;

struct LossResult {
  Tensor loss;
  Tensor lse;     // f32 [rows], for the backward
  Tensor logits;  // f32 [rows, vocab] kept for the backward (linear_cross_entropy with keep_logits)
};

struct TwoGrads {
  Tensor first, second;
};

// hidden [N, d], weight [V, d], labels i32 [N]. `chunk` (0: default) bounds the logits held at once.
// keep_logits (CPU only; ignored on CUDA): also return the logits, for a backward without the
// recomputing GEMM.
LossResult linear_cross_entropy(Context& ctx, const Tensor& hidden, const Tensor& weight,
                                const Tensor& labels, const CrossEntropyOptions& options, int64_t chunk,
                                bool keep_logits = false);
// Returns (dHidden, dWeight); either is skipped (undefined) when not needed. `logits`: the
// forward's kept logits, or null to recompute them.
TwoGrads linear_cross_entropy_backward(Context& ctx, const Tensor& grad_loss, const Tensor& hidden,
                                       const Tensor& weight, const Tensor& labels, const Tensor& lse,
                                       const CrossEntropyOptions& options, int64_t chunk, bool need_hidden,
                                       bool need_weight, const Tensor* logits = nullptr);

// logits [N, C] with labels i32 [N]; or, for sampled softmax, positive [N] as `first` and
// negatives [N, K] as `rest` with no labels (the positive is class 0).
LossResult cross_entropy(Context& ctx, const Tensor* first, const Tensor& rest, const Tensor* labels,
                         const CrossEntropyOptions& options);
// Returns (dFirst, dRest).
TwoGrads cross_entropy_backward(Context& ctx, const Tensor& grad_loss, const Tensor* first,
                                const Tensor& rest, const Tensor* labels, const Tensor& lse,
                                const CrossEntropyOptions& options);

// scores[n, k] = user[n] . table[indices[n, k]]: user [N, d], table [I, d], indices i32 [N, K].
Tensor gather_dot(Context& ctx, const Tensor& user, const Tensor& table, const Tensor& indices);
// Returns (dUser, dTable); either is skipped (undefined) when not needed.
TwoGrads gather_dot_backward(Context& ctx, const Tensor& grad_out, const Tensor& user, const Tensor& table,
                             const Tensor& indices, bool need_user, bool need_table);

// Elementwise loss (no reduction); `weight` optional with x's shape.
Tensor bce_with_logits(Context& ctx, const Tensor& x, const Tensor& target, const Tensor* weight);
Tensor bce_with_logits_backward(Context& ctx, const Tensor& grad_out, const Tensor& x, const Tensor& target,
                                const Tensor* weight);

}  // namespace llmrec::ops

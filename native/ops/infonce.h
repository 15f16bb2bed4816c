// Tensor-level InfoNCE loss and its backward: validate, allocate, dispatch to the twins.
#pragma once

#include "../core/context.h"
#include "../kernels/infonce.h"

namespace llmrec::ops {

struct InfoNceInputs {
  const Tensor* queries = nullptr;    // [B, d]
  const Tensor* keys = nullptr;       // [N, d]
  const Tensor* negatives = nullptr;  // [M, d] or null
  const Tensor* positives = nullptr;  // i32 [B] or null (positives[i] = i)
  const Tensor* item_ids = nullptr;   // i32 [N + M] or null
};

using kernels::InfoNceOptions;

struct InfoNceResult {
  Tensor loss;   // f32 []
  Tensor stats;  // f32 [2B + 1]: what the backward needs besides the inputs
};

struct InfoNceGrads {
  Tensor queries, keys, negatives;  // negatives undefined when there are none
};

InfoNceResult infonce(Context& ctx, const InfoNceInputs& in, const InfoNceOptions& options);
InfoNceGrads infonce_backward(Context& ctx, const InfoNceInputs& in, const InfoNceOptions& options,
                              const Tensor& stats, const Tensor& grad_loss);

}  // namespace llmrec::ops

// Optimiser ops: validate every tensor of a step before touching any, then queue the updates.
#pragma once

#include <vector>

#include "../core/context.h"

namespace llmrec::ops {

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t step = 1;  // 1-based, for the bias corrections
  bool decoupled = true;
};

// Updates params, exp_avg and exp_avg_sq (and masters, where given) in place. `masters[i]` may be
// null; `grad_scale` is an optional one-element f32 tensor that multiplies every gradient.
void adam_step(Context& ctx, const std::vector<const Tensor*>& params,
               const std::vector<const Tensor*>& grads, const std::vector<const Tensor*>& exp_avgs,
               const std::vector<const Tensor*>& exp_avg_sqs, const std::vector<const Tensor*>& masters,
               const Tensor* grad_scale, const AdamHyper& hyper);

// An f32 tensor [tensors.size()] with each tensor's sum of squares.
Tensor squared_norms(Context& ctx, const std::vector<const Tensor*>& tensors);

}  // namespace llmrec::ops

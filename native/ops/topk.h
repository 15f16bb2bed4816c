// Tensor-level top-k: validate, allocate, dispatch to the kernel twins.
#pragma once

#include <utility>

#include "../core/context.h"
#include "../kernels/topk.h"

namespace llmrec::ops {

// The k largest entries along the last axis of x, best first (ties: lower index first):
// values (x's dtype) and i32 indices, both shaped like x with the last axis replaced by k.
std::pair<Tensor, Tensor> topk(Context& ctx, const Tensor& x, int64_t k);

// For each query row: the k items with the highest dot product, skipping each query's excluded
// ids (CSR: exclude_offsets [users + 1], exclude_ids) and, when asked, item 0 (padding). Returns
// f32 scores and i32 item ids [users, k]; slots no item can fill hold -inf and -1.
std::pair<Tensor, Tensor> score_topk(Context& ctx, const Tensor& queries, const Tensor& items, int64_t k,
                                     const Tensor* exclude_offsets, const Tensor* exclude_ids,
                                     bool exclude_padding);

}  // namespace llmrec::ops

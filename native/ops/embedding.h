// Tensor-level embedding lookup and its backward: validate, allocate, dispatch to the twins.
#pragma once

#include "../core/context.h"
#include "../kernels/embedding.h"

namespace llmrec::ops {

using kernels::EmbeddingOptions;

// table [V, D] gathered by i32 indices [...] -> [..., D]; `positions` (or null): [L, D] added by
// position along the last index axis.
Tensor embedding(Context& ctx, const Tensor& indices, const Tensor& table, const Tensor* positions,
                 const EmbeddingOptions& options);

struct EmbeddingGrads {
  Tensor table;      // [V, D], undefined unless asked for
  Tensor positions;  // [L, D], undefined unless asked for
};

// Gradients of embedding() given grad_out [..., D]; `position_rows` is L (0 when no positions).
EmbeddingGrads embedding_backward(Context& ctx, const Tensor& indices, const Tensor& grad_out, int64_t rows,
                                  int64_t position_rows, const EmbeddingOptions& options, bool need_table,
                                  bool need_positions);

}  // namespace llmrec::ops

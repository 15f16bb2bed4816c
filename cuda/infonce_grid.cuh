// InfoNCE variant `grid` (cuda/infonce_grid.cu): the loss's final combination as a fixed-order
// block tree, and the symmetric loss's key-gradient scatter by sort + segment owners; called from
// cuda/infonce.cu when the infonce variant is not `reference`.
#pragma once

#include <cstdint>

#include "../native/kernels/infonce.h"

namespace llmrec::kernels::cuda {
// The reference's finish_loss_kernel, on one block of 1024 threads (same outputs: loss[0],
// stats[2B], and stats[B..2B) zeroed when the loss is not symmetric).
void infonce_finish_loss_tree(const InfoNceParams& p, const float* positive_logit, const float* positive_back,
                              const float* uniform_lse, const CudaStream& s);
// d_keys[positive[i], :] += src[i, :] for i in query order; positive[i] in [0, key_count).
void infonce_scatter_rows_sorted(float* d_keys, const float* src, const int32_t* positive, int64_t batch,
                                 int64_t key_count, int64_t d, const CudaStream& s);
}  // namespace llmrec::kernels::cuda

// gather_dot's table gradient by segment owners (cuda/gather_dot_grad.cu), called from
// cuda/loss.cu once the (item, position) pairs are stably sorted by item.
#pragma once

#include <cstdint>

#include "../native/kernels/loss.h"

namespace llmrec::kernels::cuda {
// Zeroes grad_table, then writes each touched item's row: the sum over its sorted run of
// grad_out[pos] * user[pos / per_row, :], in run order. sorted_keys holds `items` (the sentinel)
// for indices out of range; they sort last and are skipped.
void gather_dot_grad_table_segments(const GatherDotBackwardParams& bp, const int32_t* sorted_keys,
                                    const int64_t* sorted_positions, const CudaStream& s);
}  // namespace llmrec::kernels::cuda

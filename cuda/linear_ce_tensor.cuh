// The linear cross-entropy's per-chunk products on bf16 tensor cores (cuda/linear_ce_tensor.cu),
// called from cuda/loss.cu's chunk loop when the linear_ce variant is `tensor`.
#pragma once

#include <cstdint>

#include "../native/abi/kernel_api.h"

namespace llmrec::kernels::cuda {
// logits[rows, width] (f32) = hidden[rows, dim] . weight_chunk[width, dim]^T, both bf16.
void linear_ce_logits_tensor(const void* hidden, const void* weight_chunk, float* logits, int64_t rows,
                             int64_t width, int64_t dim, const CudaStream& s);
// From dz16 [rows, width] (bf16): grad_hidden (f32, may be null) += dz16 . weight_chunk, and
// grad_weight_chunk ([width, dim] bf16, may be null) = dz16^T . hidden.
void linear_ce_grads_tensor(const void* dz16, const void* hidden, const void* weight_chunk,
                            float* grad_hidden, void* grad_weight_chunk, int64_t rows, int64_t width,
                            int64_t dim, const CudaStream& s);
}  // namespace llmrec::kernels::cuda

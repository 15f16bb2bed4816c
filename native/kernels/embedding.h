// Embedding lookup: gathers rows of a table by i32 indices, with a padding index, a scale and an
// optional fused positional add (SASRec's item + position embedding), and its deterministic
// backward (sort the indices, then reduce each row's segment in a fixed order; no float atomics).
//
// Positions: the indices are viewed as [count / sequence_length, sequence_length]; the index at
// flat position i sits at position i % sequence_length and gets that row of the position table.
// A padding index gives an all-zero output row (item and position alike), as in pmixer's SASRec
// where the timeline mask zeroes padded positions after the positional add; padding entries
// therefore contribute to neither gradient.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

struct EmbeddingForwardParams {
  DType dtype = DType::F32;  // of table, positions and out
  const int32_t* indices = nullptr;
  int64_t count = 0;
  const void* table = nullptr;  // [rows, width]
  int64_t rows = 0, width = 0;
  const void* positions = nullptr;  // [position_rows, width] with position_rows >= sequence_length, or null
  int64_t sequence_length = 1;
  int64_t padding_idx = -1;  // < 0: none
  float scale = 1.0f;        // multiplies the table row only, not the position row
  void* out = nullptr;       // [count, width]
};

struct EmbeddingBackwardParams {
  DType dtype = DType::F32;  // of grad_out and both gradients
  const int32_t* indices = nullptr;
  int64_t count = 0;
  const void* grad_out = nullptr;  // [count, width]
  int64_t rows = 0, width = 0;
  int64_t sequence_length = 1;
  int64_t position_rows = 0;
  int64_t padding_idx = -1;
  float scale = 1.0f;
  void* grad_table = nullptr;      // [rows, width], or null when the table needs no gradient
  void* grad_positions = nullptr;  // [position_rows, width], or null
};

// The error site both twins report an out-of-range index through.
int embedding_index_error_site();

namespace cpu {
void embedding_forward(const EmbeddingForwardParams& p);
void embedding_backward(const EmbeddingBackwardParams& p);
}  // namespace cpu

namespace cuda {
void embedding_forward(const EmbeddingForwardParams& p, const CudaStream& s);
void embedding_backward(const EmbeddingBackwardParams& p, const CudaStream& s);
}  // namespace cuda

}  // namespace llmrec::kernels

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

// The options of the forward and the backward, read by name from the JS object both native calls
// take (EmbeddingNativeOptions in lib/ops/embedding.ts) and carried by both kernels' parameters.
struct EmbeddingOptions {
  int64_t padding_idx = -1;  // < 0: none
  float scale = 1.0f;        // multiplies the table row only, not the position row

  template <class F>
  void fields(F& f) {
    f("paddingIdx", padding_idx);
    f("scale", scale);
  }
};

// The options plus what the forward and the backward share.
struct EmbeddingShape : EmbeddingOptions {
  DType dtype = DType::F32;  // of the table, positions, out and the gradients
  const int32_t* indices = nullptr;
  int64_t count = 0;
  int64_t rows = 0, width = 0;  // of the table
  int64_t sequence_length = 1;
};

struct EmbeddingForwardParams : EmbeddingShape {
  const void* table = nullptr;      // [rows, width]
  const void* positions = nullptr;  // [position_rows, width] with position_rows >= sequence_length, or null
  void* out = nullptr;              // [count, width]
};

struct EmbeddingBackwardParams : EmbeddingShape {
  const void* grad_out = nullptr;  // [count, width]
  int64_t position_rows = 0;
  void* grad_table = nullptr;      // [rows, width], or null when the table needs no gradient
  void* grad_positions = nullptr;  // [position_rows, width], or null
};

// The error site both twins report an out-of-range index through.
int embedding_index_error_site();

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(embedding_forward, EmbeddingForwardParams);
LLMREC_KERNEL_TWINS(embedding_backward, EmbeddingBackwardParams);

}  // namespace llmrec::kernels

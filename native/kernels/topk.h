// Top-k selection: per row of a matrix, and fused with scoring for retrieval over a catalogue
// (queries · itemsᵀ, tile by tile, never materialising the U x N score matrix).
//
// Order: larger values first, ties broken by the lower index; NaN ranks above every number (as in
// torch.topk). This is a total order on (value, index), so the selected set and its order are
// unique: results do not depend on how the work is split across threads or blocks.
#pragma once

#include <math.h>

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/host_device.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

constexpr int kMaxTopk = 1024;
// The CUDA scoreTopk kernel keeps one query row in shared memory beside its selection buffers.
constexpr int64_t kMaxScoreTopkDimCuda = 4096;

// True when (value_a, index_a) ranks before (value_b, index_b).
LLMREC_HD bool ranks_before(float value_a, int32_t index_a, float value_b, int32_t index_b) {
  const bool nan_a = isnan(value_a), nan_b = isnan(value_b);
  if (nan_a != nan_b) return nan_a;
  if (!nan_a && value_a != value_b) return value_a > value_b;
  return index_a < index_b;
}

// values, indices: [rows, k] = the k best of each row of x [rows, n], best first.
struct TopkParams {
  DType dtype = DType::F32;  // of x and values
  const void* x = nullptr;
  void* values = nullptr;
  int32_t* indices = nullptr;
  int64_t rows = 0, n = 0;
  int k = 0;
};

// For each query u: the k items with the highest score queries[u] · items[i], best first, skipping
// the items listed in exclude_ids[exclude_offsets[u] : exclude_offsets[u + 1]] (when given) and
// item 0 (when exclude_padding). Slots left when fewer than k items remain hold -inf and index -1.
struct ScoreTopkParams {
  DType dtype = DType::F32;       // of queries and items
  const void* queries = nullptr;  // [users, dim]
  const void* items = nullptr;    // [num_items, dim]
  int64_t users = 0, num_items = 0, dim = 0;
  int k = 0;
  const int32_t* exclude_offsets = nullptr;  // [users + 1], or null
  const int32_t* exclude_ids = nullptr;      // [exclude_offsets[users]]
  int64_t exclude_count = 0;                 // length of exclude_ids
  bool exclude_padding = false;
  float* values = nullptr;  // [users, k]
  int32_t* indices = nullptr;
};

// Kernel error sites for malformed exclusion lists, shared by both twins.
int score_topk_offsets_error_site();
int score_topk_ids_error_site();

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(topk, TopkParams);
LLMREC_KERNEL_TWINS(score_topk, ScoreTopkParams);

}  // namespace llmrec::kernels

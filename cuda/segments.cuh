// Segment owners over stably sorted keys, the scheme of cuda/embedding.cu's backward, shared by
// the variants that reduce per key without atomics (cuda/gather_dot_grad.cu, cuda/infonce_grid.cu):
// a warp per sorted entry, and the warp whose entry starts a run of equal keys sums that run in
// sorted order, so every sum has a fixed order.
#pragma once

#include <cstdint>

namespace llmrec::cuda_common {

// True when sorted entry `begin` starts a run of equal keys; then `end` is one past the run.
template <class K>
__device__ __forceinline__ bool run_starting_at(const K* keys, int64_t n, int64_t begin, int64_t& end) {
  const K key = keys[begin];
  if (begin > 0 && keys[begin - 1] == key) return false;
  end = begin + 1;
  while (end < n && keys[end] == key) ++end;
  return true;
}

}  // namespace llmrec::cuda_common

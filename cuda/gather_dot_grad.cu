// gather_dot's table gradient, variant `segment`: the segment-owner scheme of cuda/embedding.cu.
// The reference (cuda/loss.cu) gives every table item a block and two binary searches, untouched
// items included, so a 1M-item table costs 1M blocks for a batch that touches a few thousand
// items. Here the table gradient is zeroed with one memset, and a warp per sorted entry works
// only where a segment starts: the warp that meets the first entry of an item's run sums the run
// in sorted (= stable, position) order, lanes striding over the embedding, exactly the order of
// the reference, so the two variants agree bit for bit and neither uses float atomics.
//
// Work and traffic, for n = rows * per_row contributions of width d and a table of `items` rows:
// 2*n*d FLOPs; bytes at least items*d*sizeof(T) written (the dense gradient, mostly zeros) plus
// n*d*sizeof(T) of user rows read (cached when rows repeat) and n*(4 + 8) of sorted keys and
// positions. At about 0.25 FLOP/byte it is bound by memory bandwidth: the roofline it aims at is
// the memset's write rate for the table plus one pass over the gathered user rows (H200: 4.8 TB/s).
#include <type_traits>

#include "../native/kernels/loss.h"
#include "common.cuh"
#include "gather_dot_grad.cuh"
#include "segments.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void gather_dot_grad_table_segments_kernel(GatherDotBackwardParams bp,
                                                      const int32_t* __restrict__ sorted_keys,
                                                      const int64_t* __restrict__ sorted_positions) {
  const GatherDotParams& p = bp.forward;
  const T* user = static_cast<const T*>(p.user);
  const T* g = static_cast<const T*>(bp.grad_out);
  T* grad_table = static_cast<T*>(bp.grad_table);
  const int64_t n = p.rows * p.per_row;
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t begin = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; begin < n; begin += warps) {
    const int32_t item = sorted_keys[begin];
    if (item >= p.items) break;  // out-of-range indices sort last, under the sentinel `items`
    int64_t end;
    if (!run_starting_at(sorted_keys, n, begin, end)) continue;
    for (int64_t c = lane; c < p.dim; c += 32) {
      float acc = 0.0f;
      for (int64_t s = begin; s < end; ++s) {
        const int64_t pos = sorted_positions[s];
        acc += to_float(g[pos]) * to_float(user[(pos / p.per_row) * p.dim + c]);
      }
      grad_table[int64_t(item) * p.dim + c] = from_float<T>(acc);
    }
  }
}

}  // namespace

void gather_dot_grad_table_segments(const GatherDotBackwardParams& bp, const int32_t* sorted_keys,
                                    const int64_t* sorted_positions, const CudaStream& s) {
  const GatherDotParams& p = bp.forward;
  const size_t element = p.dtype == DType::BF16 ? sizeof(bf16) : sizeof(float);
  // All-zero bits are 0.0 in f32 and bf16 alike: untouched items need no kernel at all.
  cudaMemsetAsync(bp.grad_table, 0, size_t(p.items * p.dim) * element, s.stream);
  const int64_t n = p.rows * p.per_row;
  if (n == 0 || p.dim == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    gather_dot_grad_table_segments_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<grid_for(n * 32, kThreads, s), kThreads, 0, s.stream>>>(bp, sorted_keys, sorted_positions);
  });
}

}  // namespace llmrec::kernels::cuda

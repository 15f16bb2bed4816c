// InfoNCE variant `grid` (family infonce): the two serial steps of cuda/infonce.cu spread over a
// block or a grid, each in a fixed order so the results stay deterministic.
//
// finish: the reference combines the B per-row terms on one thread (4 passes over B, in double).
//   Here 1024 threads take fixed strided shares, then a fixed-shape shared-memory tree combines
//   them, still in double. Work: about 6B FLOPs over 3-4 arrays of B floats (16B bytes), latency
//   bound at any B: the aim is one block's pass instead of B dependent additions (at B = 4096,
//   ~4096 serial double adds, some 50 us, against a few us).
// scatter: the symmetric loss's d_keys[positive[i]] += d[i] (rows of width d) ran as one block of
//   d threads, each walking all B queries. Here the (positive, query) pairs are radix-sorted
//   (stable: a key's queries stay in query order) and a warp per sorted entry owns the run that
//   starts there, adding the run's rows to the key's row in query order: the same additions in
//   the same order as the reference, bit for bit, over the whole grid. Work: B*d additions;
//   bytes at least 8*B*d (read d[i], read and write each touched key row) + 16B for the sort:
//   bound by memory bandwidth (H200: 4.8 TB/s), which one block could not approach.
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cmath>

#include "../native/kernels/infonce.h"
#include "common.cuh"
#include "infonce_grid.cuh"
#include "segments.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kFinishThreads = 1024;
constexpr int kThreads = 256;

struct SumD {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};
// A NaN anywhere makes the maximum NaN, as in the reference's serial pass.
struct MaxPropagatingNanD {
  __device__ __forceinline__ double operator()(double a, double b) const {
    return (a != a || b != b) ? NAN : fmax(a, b);
  }
};

// Every thread of the block gets the combination of the block's values; the tree's shape depends
// only on blockDim, so the order of the operations is fixed.
template <class Combine>
__device__ double block_tree(double v, Combine combine, double* buffer) {
  __syncthreads();  // buffer may still be read by a previous call
  buffer[threadIdx.x] = v;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride)
      buffer[threadIdx.x] = combine(buffer[threadIdx.x], buffer[threadIdx.x + stride]);
    __syncthreads();
  }
  return buffer[0];
}

__global__ void __launch_bounds__(kFinishThreads)
    finish_loss_tree_kernel(InfoNceParams p, const float* __restrict__ positive_logit,
                            const float* __restrict__ positive_back, const float* __restrict__ uniform_lse) {
  __shared__ double buffer[kFinishThreads];
  const int64_t B = p.batch;
  double forward = 0.0;
  for (int64_t i = threadIdx.x; i < B; i += blockDim.x)
    forward += double(p.stats[i]) - double(positive_logit[i]);
  double loss = block_tree(forward, SumD(), buffer) / double(B);
  if (p.symmetric) {
    double backward = 0.0;
    for (int64_t i = threadIdx.x; i < B; i += blockDim.x)
      backward += double(p.stats[B + i]) - double(positive_back[i]);
    loss = 0.5 * (loss + block_tree(backward, SumD(), buffer) / double(B));
  } else {
    for (int64_t i = threadIdx.x; i < B; i += blockDim.x) p.stats[B + i] = 0.0f;
  }
  float total = 0.0f;
  if (p.uniformity_weight != 0.0f) {
    double m = -INFINITY;
    for (int64_t i = threadIdx.x; i < B; i += blockDim.x) m = MaxPropagatingNanD()(m, double(uniform_lse[i]));
    m = block_tree(m, MaxPropagatingNanD(), buffer);
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < B; i += blockDim.x) sum += exp(double(uniform_lse[i]) - m);
    sum = block_tree(sum, SumD(), buffer);
    total = float(m + log(sum));
    loss += double(p.uniformity_weight) * (double(total) - log(double(B) * double(B - 1)));
  }
  if (threadIdx.x == 0) {
    p.stats[2 * B] = total;
    p.loss[0] = float(loss);
  }
}

__global__ void scatter_sort_inputs(const int32_t* __restrict__ positive, int64_t batch,
                                    int32_t* __restrict__ keys, int32_t* __restrict__ queries) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch;
       i += int64_t(gridDim.x) * blockDim.x) {
    keys[i] = positive[i];
    queries[i] = int32_t(i);
  }
}

__global__ void scatter_rows_segments_kernel(float* __restrict__ d_keys, const float* __restrict__ src,
                                             const int32_t* __restrict__ sorted_keys,
                                             const int32_t* __restrict__ sorted_queries, int64_t batch,
                                             int64_t d) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t begin = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; begin < batch; begin += warps) {
    int64_t end;
    if (!run_starting_at(sorted_keys, batch, begin, end)) continue;
    float* row = d_keys + int64_t(sorted_keys[begin]) * d;
    for (int64_t c = lane; c < d; c += 32) {
      float acc = row[c];
      for (int64_t s = begin; s < end; ++s) acc += src[int64_t(sorted_queries[s]) * d + c];
      row[c] = acc;
    }
  }
}

}  // namespace

void infonce_finish_loss_tree(const InfoNceParams& p, const float* positive_logit, const float* positive_back,
                              const float* uniform_lse, const CudaStream& s) {
  finish_loss_tree_kernel<<<1, kFinishThreads, 0, s.stream>>>(p, positive_logit, positive_back, uniform_lse);
}

void infonce_scatter_rows_sorted(float* d_keys, const float* src, const int32_t* positive, int64_t batch,
                                 int64_t key_count, int64_t d, const CudaStream& s) {
  if (batch == 0 || d == 0) return;
  int end_bit = 1;
  while (end_bit < 31 && (int64_t(1) << end_bit) < key_count) ++end_bit;  // keys lie in [0, key_count)
  const int n = int(batch);
  const size_t list_bytes = size_t(n) * sizeof(int32_t);
  size_t temp_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const int32_t*>(nullptr),
                                  static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                  static_cast<int32_t*>(nullptr), n, 0, end_bit, s.stream);
  const size_t total_bytes = 4 * list_bytes + std::max<size_t>(temp_bytes, 16);
  char* scratch = static_cast<char*>(s.scratch->allocate(total_bytes));
  int32_t* keys = reinterpret_cast<int32_t*>(scratch);
  int32_t* queries = keys + n;
  int32_t* sorted_keys = queries + n;
  int32_t* sorted_queries = sorted_keys + n;
  void* temp = scratch + 4 * list_bytes;
  scatter_sort_inputs<<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(positive, batch, keys, queries);
  cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, sorted_keys, queries, sorted_queries, n, 0, end_bit,
                                  s.stream);
  scatter_rows_segments_kernel<<<grid_for(int64_t(n) * 32, kThreads, s), kThreads, 0, s.stream>>>(
      d_keys, src, sorted_keys, sorted_queries, batch, d);
  s.scratch->release(scratch, total_bytes);  // stream-ordered: safe once queued
}

}  // namespace llmrec::kernels::cuda

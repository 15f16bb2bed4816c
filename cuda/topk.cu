// CUDA twin of native/cpu/topk.cc.
//
// One block selects from one stream of candidates with a shared-memory buffer of kCapacity
// (value, index) pairs. Threads append whatever ranks before the current threshold (the k-th best
// found so far); when the buffer could overflow, a bitonic sort keeps the best k and raises the
// threshold. Append order is racy, but the order on (value, index) is total, so the sorted result
// is not. After the first few flushes the threshold rejects almost everything, so a row costs
// about one read and one comparison per element.
//
// scoreTopk runs that selection over catalogue chunks: a block per (query, chunk) computes its
// scores warp by warp (lanes split the dimension, a butterfly sums them), keeps the chunk's best
// k in scratch, and a second kernel merges each query's chunks.
//
// topk variants (family topk): reference runs topk_rows, one block per row; split (the default
// when the rows would leave SMs idle) cuts each row into slices of at least 1024 elements, a
// block per (row, slice) keeps its slice's best k in scratch, and merge_chunks merges each row's
// slices. The order on (value, index) is total, so both give the same result bit for bit. Work
// and traffic: about n comparisons and n*sizeof(T) bytes read per row, bound by memory
// bandwidth; one row over a 1M-item catalogue ran on one SM (tens of GB/s), split spreads it over
// 4 blocks per SM, aiming at the DRAM rate (H200: 4.8 TB/s) once n*rows is large.
#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>

#include "../native/kernels/topk.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;
constexpr int kCapacity = 2048;  // >= kMaxTopk + kThreads: a flush always leaves room for a round
constexpr int kExcludeCache = 2048;
constexpr int kNoIndex = INT_MAX;  // pads: ranks after every real (value, index)

struct Selection {
  float values[kCapacity];
  int32_t indices[kCapacity];
  int count;
};

// Sorts the whole buffer best first. Every thread of the block must call it.
__device__ void bitonic_sort(float* values, int32_t* indices) {
  for (int width = 2; width <= kCapacity; width <<= 1) {
    for (int stride = width >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < kCapacity; i += blockDim.x) {
        const int partner = i ^ stride;
        if (partner <= i) continue;
        const bool best_first = (i & width) == 0;
        const bool partner_better = ranks_before(values[partner], indices[partner], values[i], indices[i]);
        const bool i_better = ranks_before(values[i], indices[i], values[partner], indices[partner]);
        if (best_first ? partner_better : i_better) {
          const float v = values[i];
          values[i] = values[partner];
          values[partner] = v;
          const int32_t x = indices[i];
          indices[i] = indices[partner];
          indices[partner] = x;
        }
      }
      __syncthreads();
    }
  }
}

// Keeps the best k of the buffer at its front and returns the new threshold through the refs.
__device__ void flush(Selection& sel, int k, float& threshold_value, int32_t& threshold_index) {
  __syncthreads();  // every append of the round has landed
  const int count = sel.count;
  for (int i = count + threadIdx.x; i < kCapacity; i += blockDim.x) {
    sel.values[i] = -INFINITY;
    sel.indices[i] = kNoIndex;
  }
  __syncthreads();
  bitonic_sort(sel.values, sel.indices);  // ends with a barrier
  const int kept = count < k ? count : k;
  if (kept == k) {
    threshold_value = sel.values[k - 1];
    threshold_index = sel.indices[k - 1];
  }
  __syncthreads();  // everyone has read the count and the threshold
  if (threadIdx.x == 0) sel.count = kept;
  __syncthreads();
}

// Makes room for one round of up to blockDim.x appends. Block-uniform.
__device__ void reserve_round(Selection& sel, int k, float& threshold_value, int32_t& threshold_index) {
  const int count = sel.count;
  __syncthreads();  // no thread may append before all have read the count
  if (count + int(blockDim.x) > kCapacity) flush(sel, k, threshold_value, threshold_index);
}

__device__ __forceinline__ void offer(Selection& sel, float value, int32_t index, float threshold_value,
                                      int32_t threshold_index) {
  if (ranks_before(value, index, threshold_value, threshold_index)) {
    const int at = atomicAdd(&sel.count, 1);
    sel.values[at] = value;
    sel.indices[at] = index;
  }
}

// Leaves the best k of xr[i0, i1) (indices i) sorted at the front of sel, sel.count of them.
// Every thread of the block must call it.
template <class T>
__device__ void select_range(Selection& sel, const T* xr, int64_t i0, int64_t i1, int k) {
  if (threadIdx.x == 0) sel.count = 0;
  __syncthreads();
  float threshold_value = -INFINITY;
  int32_t threshold_index = kNoIndex;
  for (int64_t base = i0; base < i1; base += blockDim.x) {
    reserve_round(sel, k, threshold_value, threshold_index);
    const int64_t i = base + threadIdx.x;
    if (i < i1) offer(sel, to_float(xr[i]), int32_t(i), threshold_value, threshold_index);
    __syncthreads();
  }
  flush(sel, k, threshold_value, threshold_index);
}

template <class T>
__global__ void __launch_bounds__(kThreads) topk_rows(const T* __restrict__ x, T* __restrict__ values,
                                                      int32_t* __restrict__ indices, int64_t n, int k) {
  __shared__ Selection sel;
  const int64_t row = blockIdx.x;
  select_range(sel, x + row * n, 0, n, k);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    values[row * k + j] = from_float<T>(sel.values[j]);
    indices[row * k + j] = sel.indices[j];
  }
}

// Ascending sort of kExcludeCache ints (pads are INT_MAX). Every thread must call it.
__device__ void bitonic_sort_ints(int32_t* a) {
  for (int width = 2; width <= kExcludeCache; width <<= 1) {
    for (int stride = width >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < kExcludeCache; i += blockDim.x) {
        const int partner = i ^ stride;
        if (partner <= i) continue;
        const bool ascending = (i & width) == 0;
        if (ascending ? a[partner] < a[i] : a[i] < a[partner]) {
          const int32_t v = a[i];
          a[i] = a[partner];
          a[partner] = v;
        }
      }
      __syncthreads();
    }
  }
}

struct ScoreLayout {
  int64_t users, num_items, dim, chunks, chunk_items;
  int k;
  const int32_t* exclude_offsets;
  const int32_t* exclude_ids;
  int64_t exclude_count;
  bool exclude_padding;
  KernelErrorRecord* errors;
  int offsets_site, ids_site;
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    score_chunks(const T* __restrict__ queries, const T* __restrict__ items,
                 float* __restrict__ partial_values, int32_t* __restrict__ partial_indices, ScoreLayout g) {
  __shared__ Selection sel;
  __shared__ int32_t excluded[kExcludeCache];
  extern __shared__ float query[];  // dim floats
  const int64_t u = blockIdx.x / g.chunks, chunk = blockIdx.x % g.chunks;
  const int64_t i0 = chunk * g.chunk_items, i1 = std::min(g.num_items, i0 + g.chunk_items);
  for (int64_t c = threadIdx.x; c < g.dim; c += blockDim.x) query[c] = to_float(queries[u * g.dim + c]);

  // This query's exclusions: the first kExcludeCache sorted in shared memory, any rest scanned.
  int64_t ex_begin = 0, ex_end = 0;
  if (g.exclude_offsets) {
    ex_begin = g.exclude_offsets[u];
    ex_end = g.exclude_offsets[u + 1];
    const bool bad_first = u == 0 && ex_begin != 0, bad_last = u == g.users - 1 && ex_end != g.exclude_count;
    if (ex_begin < 0 || ex_end < ex_begin || ex_end > g.exclude_count || bad_first || bad_last) {
      if (threadIdx.x == 0 && chunk == 0) report_error(g.errors, g.offsets_site, u + 1, g.exclude_count);
      ex_begin = ex_end = 0;
    }
  }
  const int64_t cached = std::min<int64_t>(ex_end - ex_begin, kExcludeCache);
  for (int i = threadIdx.x; i < kExcludeCache; i += blockDim.x) {
    int32_t id = kNoIndex;
    if (i < cached) {
      id = g.exclude_ids[ex_begin + i];
      if (id < 0 || id >= g.num_items) {
        if (chunk == 0) report_error(g.errors, g.ids_site, id, g.num_items);
        id = kNoIndex;
      }
    }
    excluded[i] = id;
  }
  if (threadIdx.x == 0) sel.count = 0;
  __syncthreads();
  if (cached > 0) bitonic_sort_ints(excluded);  // block-uniform condition

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  float threshold_value = -INFINITY;
  int32_t threshold_index = kNoIndex;
  const int64_t first = std::max<int64_t>(i0, g.exclude_padding ? 1 : 0);
  // A round: each warp scores 32 items, one at a time, so at most blockDim.x appends.
  for (int64_t base = first; base < i1; base += int64_t(warps) * 32) {
    reserve_round(sel, g.k, threshold_value, threshold_index);
    for (int t = 0; t < 32; ++t) {
      const int64_t i = base + int64_t(warp) * 32 + t;
      if (i >= i1) break;  // warp-uniform
      const T* item = items + i * g.dim;
      float partial = 0.0f;
      for (int64_t c = lane; c < g.dim; c += 32) partial = fmaf(query[c], to_float(item[c]), partial);
      const float score = warp_reduce(partial, [](float a, float b) { return a + b; });
      if (lane != 0) continue;
      int lo = 0, hi = int(cached);
      while (lo < hi) {  // lower bound in the sorted cache
        const int mid = (lo + hi) / 2;
        if (excluded[mid] < i)
          lo = mid + 1;
        else
          hi = mid;
      }
      bool skip = lo < cached && excluded[lo] == i;
      for (int64_t e = ex_begin + cached; !skip && e < ex_end; ++e) skip = g.exclude_ids[e] == i;
      if (!skip) offer(sel, score, int32_t(i), threshold_value, threshold_index);
    }
    __syncthreads();
  }
  flush(sel, g.k, threshold_value, threshold_index);
  const int64_t out = (u * g.chunks + chunk) * g.k;
  for (int j = threadIdx.x; j < g.k; j += blockDim.x) {
    const bool filled = j < sel.count;
    partial_values[out + j] = filled ? sel.values[j] : -INFINITY;
    partial_indices[out + j] = filled ? sel.indices[j] : kNoIndex;
  }
}

template <class V>
__global__ void __launch_bounds__(kThreads)
    merge_chunks(const float* __restrict__ partial_values, const int32_t* __restrict__ partial_indices,
                 V* __restrict__ values, int32_t* __restrict__ indices, int64_t chunks, int k) {
  __shared__ Selection sel;
  const int64_t u = blockIdx.x;
  const int64_t n = chunks * k;
  const float* pv = partial_values + u * n;
  const int32_t* pi = partial_indices + u * n;
  if (threadIdx.x == 0) sel.count = 0;
  __syncthreads();
  float threshold_value = -INFINITY;
  int32_t threshold_index = kNoIndex;
  for (int64_t base = 0; base < n; base += blockDim.x) {
    reserve_round(sel, k, threshold_value, threshold_index);
    const int64_t i = base + threadIdx.x;
    if (i < n && pi[i] != kNoIndex) offer(sel, pv[i], pi[i], threshold_value, threshold_index);
    __syncthreads();
  }
  flush(sel, k, threshold_value, threshold_index);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const bool filled = j < sel.count;
    values[u * k + j] = from_float<V>(filled ? sel.values[j] : -INFINITY);
    indices[u * k + j] = filled ? sel.indices[j] : -1;
  }
}

// Variant split: the best k of one slice [i0, i1) of a row, into that (row, slice)'s partial list
// (unfilled entries: -inf and kNoIndex, which merge_chunks skips).
template <class T>
__global__ void __launch_bounds__(kThreads)
    topk_row_slices(const T* __restrict__ x, float* __restrict__ partial_values,
                    int32_t* __restrict__ partial_indices, int64_t n, int k, int64_t slices,
                    int64_t slice_items) {
  __shared__ Selection sel;
  const int64_t row = blockIdx.x / slices, slice = blockIdx.x % slices;
  const int64_t i0 = slice * slice_items, i1 = std::min(n, i0 + slice_items);
  select_range(sel, x + row * n, i0, i1, k);
  const int64_t out = blockIdx.x * int64_t(k);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const bool filled = j < sel.count;
    partial_values[out + j] = filled ? sel.values[j] : -INFINITY;
    partial_indices[out + j] = filled ? sel.indices[j] : kNoIndex;
  }
}

}  // namespace

void topk(const TopkParams& p, const CudaStream& s) {
  if (p.rows == 0) return;
  // Slices of at least 1024 elements, enough to give every SM 4 blocks; the split variant by
  // default when the rows alone would leave SMs idle and a row has more than one slice.
  const int64_t sms = s.multiprocessors > 0 ? s.multiprocessors : 108;
  const int64_t slices =
      std::max<int64_t>(1, std::min<int64_t>((p.n + 1023) / 1024, (4 * sms + p.rows - 1) / p.rows));
  const std::string variant = kernel_variant("topk");
  const bool split = variant == "split" || (variant.empty() && p.rows < sms && slices > 1);
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      if (!split) {
        topk_rows<T><<<unsigned(p.rows), kThreads, 0, s.stream>>>(
            static_cast<const T*>(p.x), static_cast<T*>(p.values), p.indices, p.n, p.k);
        return;
      }
      const int64_t slice_items = (p.n + slices - 1) / slices;
      const size_t entries = size_t(p.rows * slices * p.k);
      float* partial_values = static_cast<float*>(s.scratch->allocate(entries * sizeof(float)));
      int32_t* partial_indices = static_cast<int32_t*>(s.scratch->allocate(entries * sizeof(int32_t)));
      topk_row_slices<T><<<unsigned(p.rows * slices), kThreads, 0, s.stream>>>(
          static_cast<const T*>(p.x), partial_values, partial_indices, p.n, p.k, slices, slice_items);
      merge_chunks<T><<<unsigned(p.rows), kThreads, 0, s.stream>>>(
          partial_values, partial_indices, static_cast<T*>(p.values), p.indices, slices, p.k);
      s.scratch->release(partial_values, entries * sizeof(float));
      s.scratch->release(partial_indices, entries * sizeof(int32_t));
    }
  });
}

void score_topk(const ScoreTopkParams& p, const CudaStream& s) {
  if (p.users == 0) return;
  // Enough chunks per query to give every SM a few blocks, each of at least 1024 items.
  const int64_t sms = s.multiprocessors > 0 ? s.multiprocessors : 108;
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>((p.num_items + 1023) / 1024, (4 * sms + p.users - 1) / p.users));
  const int64_t chunk_items = (p.num_items + chunks - 1) / chunks;
  const size_t entries = size_t(p.users * chunks * p.k);
  float* partial_values = static_cast<float*>(s.scratch->allocate(entries * sizeof(float)));
  int32_t* partial_indices = static_cast<int32_t*>(s.scratch->allocate(entries * sizeof(int32_t)));
  ScoreLayout g{p.users,
                p.num_items,
                p.dim,
                chunks,
                chunk_items,
                p.k,
                p.exclude_offsets,
                p.exclude_ids,
                p.exclude_count,
                p.exclude_padding,
                s.errors,
                score_topk_offsets_error_site(),
                score_topk_ids_error_site()};
  const size_t query_bytes = size_t(p.dim) * sizeof(float);
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>)
      score_chunks<T><<<unsigned(p.users * chunks), kThreads, query_bytes, s.stream>>>(
          static_cast<const T*>(p.queries), static_cast<const T*>(p.items), partial_values, partial_indices,
          g);
  });
  merge_chunks<float><<<unsigned(p.users), kThreads, 0, s.stream>>>(partial_values, partial_indices, p.values,
                                                                    p.indices, chunks, p.k);
  s.scratch->release(partial_values, entries * sizeof(float));
  s.scratch->release(partial_indices, entries * sizeof(int32_t));
}

}  // namespace llmrec::kernels::cuda

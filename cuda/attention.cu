// CUDA twin of native/cpu/attention.cc. Read top to bottom: the shared pieces, the reference
// kernels (one thread per query row or key row, plain loops), the fast kernels, the packed
// kernels, the launchers (which pick the variant: see pick_variant).
//
// Fast kernels: a block of 4 warps owns a tile of 32 rows (8 per warp) of one (batch, head) and
// streams K/V (or Q/dO) through shared memory in tiles of 32. Inside a tile each lane owns one
// key (or query) for the dot products, which read the other operand as a shared-memory
// broadcast and a transposed tile padded to 33 columns (no bank conflicts), and each lane owns
// dims lane + 32t of the accumulators. Packed kernels do the same over 32 consecutive rows of
// the flattened (batch, head, position) space, so short sequences (SASRec: L = 50, one head)
// keep every warp busy and a block serves several (batch, head) pairs. Every output element is
// written by one warp: no atomics, so results are deterministic. dk/dv are a separate pass
// over key tiles that loops over the query heads of its GQA group.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "../native/abi/error.h"
#include "../native/kernels/attention.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerWarp = 8;
constexpr int kTileRows = kWarps * kRowsPerWarp;  // rows a block owns (queries or keys)
constexpr int kTile = 32;                         // rows streamed per step: one per lane
constexpr int kPad = kTile + 1;                   // transposed tiles' row stride

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

__device__ __forceinline__ float keep_factor(const AttentionShape& s, uint64_t element, float keep_scale) {
  return attention_keep(s, element) ? keep_scale : 0.0f;
}

__device__ __forceinline__ float warp_sum(float v) {
  return warp_reduce(v, [](float a, float b) { return a + b; });
}
__device__ __forceinline__ float warp_max(float v) {
  return warp_reduce(v, [](float a, float b) { return fmaxf(a, b); });
}

// rowsum(grad_out * out), one warp per row.
template <class T>
__global__ void delta_kernel(AttentionBackwardParams p, int64_t rows) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int D = int(p.shape.head_dim);
  const T* o = static_cast<const T*>(p.out);
  const T* go = static_cast<const T*>(p.grad_out);
  for (int64_t row = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); row < rows; row += warps) {
    float sum = 0.0f;
    for (int d = lane; d < D; d += 32) sum += to_float(o[row * D + d]) * to_float(go[row * D + d]);
    sum = warp_sum(sum);
    if (lane == 0) p.delta[row] = sum;
  }
}

// ---------------------------------------------------------------------------------------------
// Reference kernels: one thread per row, two passes over the keys, accumulators in local memory.

template <class T>
__global__ void reference_forward(AttentionForwardParams p) {
  const AttentionShape& s = p.shape;
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (row >= s.batch * s.q_heads * s.q_len) return;
  const int64_t D = s.head_dim, Lk = s.kv_len, i = row % s.q_len, bh = row / s.q_len;
  const int64_t b = bh / s.q_heads;
  const T* q = static_cast<const T*>(p.q) + row * D;
  const T* k = static_cast<const T*>(p.k) + attention_kv_offset(s, bh);
  const T* v = static_cast<const T*>(p.v) + attention_kv_offset(s, bh);
  const KeyRange range = attention_key_range(s, b, i);
  const float keep_scale = attention_keep_scale(s);
  float acc[128];
  for (int64_t d = 0; d < D; ++d) acc[d] = 0.0f;
  float row_max = -INFINITY;
  for (int64_t j = range.begin; j < range.end; ++j) {
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot += to_float(q[d]) * to_float(k[j * D + d]);
    row_max = fmaxf(row_max, dot * s.scale);
  }
  float sum = 0.0f;
  for (int64_t j = range.begin; j < range.end; ++j) {
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot += to_float(q[d]) * to_float(k[j * D + d]);
    const float prob = expf(dot * s.scale - row_max);
    sum += prob;
    float weight = prob;
    if (s.dropout > 0.0f) weight *= keep_factor(s, uint64_t(row * Lk + j), keep_scale);
    for (int64_t d = 0; d < D; ++d) acc[d] += weight * to_float(v[j * D + d]);
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  T* out = static_cast<T*>(p.out) + row * D;
  for (int64_t d = 0; d < D; ++d) out[d] = from_float<T>(acc[d] * inv);
  p.lse[row] = sum > 0.0f ? row_max + logf(sum) : -INFINITY;
}

template <class T>
__global__ void reference_grad_q(AttentionBackwardParams p) {
  const AttentionShape& s = p.shape;
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (row >= s.batch * s.q_heads * s.q_len) return;
  const int64_t D = s.head_dim, Lk = s.kv_len, i = row % s.q_len, bh = row / s.q_len;
  const int64_t b = bh / s.q_heads;
  const T* q = static_cast<const T*>(p.q) + row * D;
  const T* go = static_cast<const T*>(p.grad_out) + row * D;
  const T* k = static_cast<const T*>(p.k) + attention_kv_offset(s, bh);
  const T* v = static_cast<const T*>(p.v) + attention_kv_offset(s, bh);
  const KeyRange range = attention_key_range(s, b, i);
  const float keep_scale = attention_keep_scale(s);
  float acc[128];
  for (int64_t d = 0; d < D; ++d) acc[d] = 0.0f;
  for (int64_t j = range.begin; j < range.end; ++j) {
    float dot = 0.0f, dprob = 0.0f;
    for (int64_t d = 0; d < D; ++d) {
      dot += to_float(q[d]) * to_float(k[j * D + d]);
      dprob += to_float(go[d]) * to_float(v[j * D + d]);
    }
    const float prob = expf(dot * s.scale - p.lse[row]);
    if (s.dropout > 0.0f) dprob *= keep_factor(s, uint64_t(row * Lk + j), keep_scale);
    const float ds = prob * (dprob - p.delta[row]);
    for (int64_t d = 0; d < D; ++d) acc[d] += ds * to_float(k[j * D + d]);
  }
  T* out = static_cast<T*>(p.grad_q) + row * D;
  for (int64_t d = 0; d < D; ++d) out[d] = from_float<T>(acc[d] * s.scale);
}

template <class T>
__global__ void reference_grad_kv(AttentionBackwardParams p) {
  const AttentionShape& s = p.shape;
  const int64_t key_row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (key_row >= s.batch * s.kv_heads * s.kv_len) return;
  const int64_t D = s.head_dim, Lq = s.q_len, Lk = s.kv_len, j = key_row % Lk, bhk = key_row / Lk;
  const int64_t b = bhk / s.kv_heads, hk = bhk % s.kv_heads, group = s.q_heads / s.kv_heads;
  const T* k = static_cast<const T*>(p.k) + key_row * D;
  const T* v = static_cast<const T*>(p.v) + key_row * D;
  const float keep_scale = attention_keep_scale(s);
  float dk[128], dv[128];
  for (int64_t d = 0; d < D; ++d) dk[d] = dv[d] = 0.0f;
  for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
    for (int64_t i = 0; i < Lq; ++i) {
      const KeyRange range = attention_key_range(s, b, i);
      if (j < range.begin || j >= range.end) continue;
      const int64_t row = (b * s.q_heads + h) * Lq + i;
      const T* q = static_cast<const T*>(p.q) + row * D;
      const T* go = static_cast<const T*>(p.grad_out) + row * D;
      float dot = 0.0f, dprob = 0.0f;
      for (int64_t d = 0; d < D; ++d) {
        dot += to_float(q[d]) * to_float(k[d]);
        dprob += to_float(go[d]) * to_float(v[d]);
      }
      const float prob = expf(dot * s.scale - p.lse[row]);
      const float factor = s.dropout > 0.0f ? keep_factor(s, uint64_t(row * Lk + j), keep_scale) : 1.0f;
      const float ds = prob * (dprob * factor - p.delta[row]);
      for (int64_t d = 0; d < D; ++d) {
        dv[d] += prob * factor * to_float(go[d]);
        dk[d] += ds * to_float(q[d]);
      }
    }
  }
  T* out_k = static_cast<T*>(p.grad_k) + key_row * D;
  T* out_v = static_cast<T*>(p.grad_v) + key_row * D;
  for (int64_t d = 0; d < D; ++d) {
    out_k[d] = from_float<T>(dk[d] * s.scale);
    out_v[d] = from_float<T>(dv[d]);
  }
}

// ---------------------------------------------------------------------------------------------
// Fast kernels. DPL = dims per lane = ceil(D / 32).

// Loads `count` rows of a [*, D] matrix into shared memory as rows (stride D), zero past `count`.
template <class T>
__device__ __forceinline__ void load_rows(const T* src, int count, int D, float* dst) {
  for (int e = threadIdx.x; e < kTile * D; e += blockDim.x) {
    const int r = e / D;
    dst[e] = r < count ? to_float(src[e]) : 0.0f;
  }
}

// Loads `count` rows transposed: dst[d * kPad + r].
template <class T>
__device__ __forceinline__ void load_transposed(const T* src, int count, int D, float* dst) {
  for (int e = threadIdx.x; e < kTile * D; e += blockDim.x) {
    const int r = e / D, d = e % D;
    dst[d * kPad + r] = r < count ? to_float(src[e]) : 0.0f;
  }
}

// The pieces every fast and packed kernel shares. In a tile, lanes [lo, hi) each own one column
// (a key, or a query in the dk/dv kernels); a warp walks its rows one at a time.

// acc[t] += w_c * tile(c, lane + 32t) over the columns c in [lo, hi), w_c being lane c's `value`;
// tile(c, d) is tile[c * col_stride + d * dim_stride].
template <int DPL>
__device__ __forceinline__ void accumulate_columns(float (&acc)[DPL], float value, int lo, int hi,
                                                   const float* tile, int col_stride, int dim_stride,
                                                   int lane, int D) {
  for (int c = lo; c < hi; ++c) {
    const float w = __shfl_sync(0xffffffffu, value, c);
#pragma unroll
    for (int t = 0; t < DPL; ++t) {
      const int d = lane + 32 * t;
      if (d < D) acc[t] += w * tile[c * col_stride + d * dim_stride];
    }
  }
}

// out[lane + 32t] = acc[t] * factor.
template <class T, int DPL>
__device__ __forceinline__ void store_lane_dims(T* out, const float (&acc)[DPL], float factor, int lane,
                                                int D) {
#pragma unroll
  for (int t = 0; t < DPL; ++t) {
    const int d = lane + 32 * t;
    if (d < D) out[d] = from_float<T>(acc[t] * factor);
  }
}

// a · at[:, lane] and b · bt[:, lane] for rows a, b and transposed tiles at, bt.
__device__ __forceinline__ void lane_dots(const float* a, const float* at, const float* b, const float* bt,
                                          int lane, int D, float* dot_a, float* dot_b) {
  float x = 0.0f, y = 0.0f;
  for (int d = 0; d < D; ++d) {
    x += a[d] * at[d * kPad + lane];
    y += b[d] * bt[d * kPad + lane];
  }
  *dot_a = x;
  *dot_b = y;
}

// One tile of the online softmax of query row `q_row`: the scores of keys kt[:, lo..hi), the
// running max and sum, and acc += probabilities (dropped per Philox `element`) x vs rows.
template <int DPL>
__device__ __forceinline__ void forward_tile(const AttentionShape& s, const float* q_row, const float* kt,
                                             const float* vs, int lo, int hi, uint64_t element,
                                             float keep_scale, float& row_max, float& row_sum,
                                             float (&acc)[DPL], int lane, int D) {
  const bool active = lane >= lo && lane < hi;
  float score = -INFINITY;
  if (active) {
    float dot = 0.0f;
    for (int d = 0; d < D; ++d) dot += q_row[d] * kt[d * kPad + lane];
    score = dot * s.scale;
  }
  const float new_max = fmaxf(row_max, warp_max(score));
  const float correction = expf(row_max - new_max);
  row_max = new_max;
  const float prob = active ? expf(score - new_max) : 0.0f;
  row_sum = row_sum * correction + prob;
  const float keep = s.dropout > 0.0f && active ? keep_factor(s, element, keep_scale) : 1.0f;
#pragma unroll
  for (int t = 0; t < DPL; ++t) acc[t] *= correction;
  accumulate_columns(acc, prob * keep, lo, hi, vs, D, 1, lane, D);
}

// Writes a finished forward row: out = acc / sum, lse = max + log(sum).
template <class T, int DPL>
__device__ __forceinline__ void finish_forward_row(const AttentionForwardParams& p, int64_t row,
                                                   float row_max, float row_sum, const float (&acc)[DPL],
                                                   int lane, int D) {
  const float total = warp_sum(row_sum);
  store_lane_dims<T>(static_cast<T*>(p.out) + row * D, acc, total > 0.0f ? 1.0f / total : 0.0f, lane, D);
  if (lane == 0) p.lse[row] = total > 0.0f ? row_max + logf(total) : -INFINITY;
}

// One tile of dq for a query row: acc += dS x kt rows, with dS = P (dP - delta).
template <int DPL>
__device__ __forceinline__ void grad_q_tile(const AttentionShape& s, const float* q_row, const float* go_row,
                                            const float* kt, const float* vt, float lse, float delta, int lo,
                                            int hi, uint64_t element, float keep_scale, float (&acc)[DPL],
                                            int lane, int D) {
  float ds = 0.0f;
  if (lane >= lo && lane < hi) {
    float dot, dprob;
    lane_dots(q_row, kt, go_row, vt, lane, D, &dot, &dprob);
    const float prob = expf(dot * s.scale - lse);
    if (s.dropout > 0.0f) dprob *= keep_factor(s, element, keep_scale);
    ds = prob * (dprob - delta);
  }
  accumulate_columns(acc, ds, lo, hi, kt, 1, kPad, lane, D);
}

// One tile of dk and dv for a key row: the columns are queries (qt, got, their lse and delta);
// `active` says whether this lane's query sees the key, and [lo, hi) (warp-uniform) covers them.
template <int DPL>
__device__ __forceinline__ void grad_kv_tile(const AttentionShape& s, const float* k_row, const float* v_row,
                                             const float* qt, const float* got, const float* lse_s,
                                             const float* delta_s, bool active, int lo, int hi,
                                             uint64_t element, float keep_scale, float (&dk)[DPL],
                                             float (&dv)[DPL], int lane, int D) {
  float weight = 0.0f, ds = 0.0f;
  if (active) {
    float dot, dprob;
    lane_dots(k_row, qt, v_row, got, lane, D, &dot, &dprob);
    const float prob = expf(dot * s.scale - lse_s[lane]);
    const float factor = s.dropout > 0.0f ? keep_factor(s, element, keep_scale) : 1.0f;
    weight = prob * factor;
    ds = prob * (dprob * factor - delta_s[lane]);
  }
  accumulate_columns(dv, weight, lo, hi, got, 1, kPad, lane, D);
  accumulate_columns(dk, ds, lo, hi, qt, 1, kPad, lane, D);
}

// Writes key row `key_row` of dk (times the score scale) and dv.
template <class T, int DPL>
__device__ __forceinline__ void store_kv_row(const AttentionBackwardParams& p, int64_t key_row,
                                             const float (&dk)[DPL], const float (&dv)[DPL], float scale,
                                             int lane, int D) {
  store_lane_dims<T>(static_cast<T*>(p.grad_k) + key_row * D, dk, scale, lane, D);
  store_lane_dims<T>(static_cast<T*>(p.grad_v) + key_row * D, dv, 1.0f, lane, D);
}

template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) fast_forward(AttentionForwardParams p, int64_t query_tiles) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len;
  float* qs = smem;                // [kTileRows][D]
  float* kt = qs + kTileRows * D;  // [D][kPad]
  float* vs = kt + D * kPad;       // [kTile][D]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.x / query_tiles, i0 = (blockIdx.x % query_tiles) * kTileRows;
  const int64_t b = bh / s.q_heads;
  const int rows = int(min64(kTileRows, Lq - i0));
  const T* q = static_cast<const T*>(p.q) + (bh * Lq + i0) * D;
  const T* k = static_cast<const T*>(p.k) + attention_kv_offset(s, bh);
  const T* v = static_cast<const T*>(p.v) + attention_kv_offset(s, bh);
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) qs[e] = to_float(q[e]);
  const float keep_scale = attention_keep_scale(s);

  float row_max[kRowsPerWarp], row_sum[kRowsPerWarp], acc[kRowsPerWarp][DPL];
  int64_t row_end[kRowsPerWarp];
  const int64_t begin = attention_key_range(s, b, i0).begin;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
    row_end[r] = local < rows ? attention_key_range(s, b, i0 + local).end : begin;
#pragma unroll
    for (int t = 0; t < DPL; ++t) acc[r][t] = 0.0f;
  }
  const int64_t end = attention_key_range(s, b, i0 + rows - 1).end;
  for (int64_t j0 = begin; j0 < end; j0 += kTile) {
    const int cols = int(min64(kTile, end - j0));
    __syncthreads();  // the previous tile is no longer read (and qs is written on the first pass)
    load_transposed(k + j0 * D, cols, D, kt);
    load_rows(v + j0 * D, cols, D, vs);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int local = warp * kRowsPerWarp + r;
      const int n = int(min64(row_end[r] - j0, cols));
      if (n <= 0) continue;  // warp-uniform
      forward_tile(s, qs + local * D, kt, vs, 0, n, uint64_t((bh * Lq + i0 + local) * Lk + j0 + lane),
                   keep_scale, row_max[r], row_sum[r], acc[r], lane, D);
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < rows) finish_forward_row<T>(p, bh * Lq + i0 + local, row_max[r], row_sum[r], acc[r], lane, D);
  }
}

template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) fast_grad_q(AttentionBackwardParams p, int64_t query_tiles) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len;
  float* qs = smem;                 // [kTileRows][D]
  float* gos = qs + kTileRows * D;  // [kTileRows][D]
  float* kt = gos + kTileRows * D;  // [D][kPad]
  float* vt = kt + D * kPad;        // [D][kPad]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.x / query_tiles, i0 = (blockIdx.x % query_tiles) * kTileRows;
  const int64_t b = bh / s.q_heads;
  const int rows = int(min64(kTileRows, Lq - i0));
  const T* q = static_cast<const T*>(p.q) + (bh * Lq + i0) * D;
  const T* go = static_cast<const T*>(p.grad_out) + (bh * Lq + i0) * D;
  const T* k = static_cast<const T*>(p.k) + attention_kv_offset(s, bh);
  const T* v = static_cast<const T*>(p.v) + attention_kv_offset(s, bh);
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) {
    qs[e] = to_float(q[e]);
    gos[e] = to_float(go[e]);
  }
  const float keep_scale = attention_keep_scale(s);

  float acc[kRowsPerWarp][DPL], lse[kRowsPerWarp], delta[kRowsPerWarp];
  int64_t row_end[kRowsPerWarp];
  const int64_t begin = attention_key_range(s, b, i0).begin;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    const bool valid = local < rows;
    row_end[r] = valid ? attention_key_range(s, b, i0 + local).end : begin;
    lse[r] = valid ? p.lse[bh * Lq + i0 + local] : 0.0f;
    delta[r] = valid ? p.delta[bh * Lq + i0 + local] : 0.0f;
#pragma unroll
    for (int t = 0; t < DPL; ++t) acc[r][t] = 0.0f;
  }
  const int64_t end = attention_key_range(s, b, i0 + rows - 1).end;
  for (int64_t j0 = begin; j0 < end; j0 += kTile) {
    const int cols = int(min64(kTile, end - j0));
    __syncthreads();
    load_transposed(k + j0 * D, cols, D, kt);
    load_transposed(v + j0 * D, cols, D, vt);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int local = warp * kRowsPerWarp + r;
      const int n = int(min64(row_end[r] - j0, cols));
      if (n <= 0) continue;
      grad_q_tile(s, qs + local * D, gos + local * D, kt, vt, lse[r], delta[r], 0, n,
                  uint64_t((bh * Lq + i0 + local) * Lk + j0 + lane), keep_scale, acc[r], lane, D);
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < rows)
      store_lane_dims<T>(static_cast<T*>(p.grad_q) + (bh * Lq + i0 + local) * D, acc[r], s.scale, lane, D);
  }
}

template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) fast_grad_kv(AttentionBackwardParams p, int64_t key_tiles) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len, group = s.q_heads / s.kv_heads;
  float* ks = smem;                // [kTileRows][D]
  float* vs = ks + kTileRows * D;  // [kTileRows][D]
  float* qt = vs + kTileRows * D;  // [D][kPad]
  float* got = qt + D * kPad;      // [D][kPad]
  float* lse_s = got + D * kPad;   // [kTile]
  float* delta_s = lse_s + kTile;  // [kTile]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bhk = blockIdx.x / key_tiles, j0 = (blockIdx.x % key_tiles) * kTileRows;
  const int64_t b = bhk / s.kv_heads, hk = bhk % s.kv_heads;
  const int cols = int(min64(kTileRows, Lk - j0));
  const T* k = static_cast<const T*>(p.k) + (bhk * Lk + j0) * D;
  const T* v = static_cast<const T*>(p.v) + (bhk * Lk + j0) * D;
  for (int e = threadIdx.x; e < cols * D; e += blockDim.x) {
    ks[e] = to_float(k[e]);
    vs[e] = to_float(v[e]);
  }
  const float keep_scale = attention_keep_scale(s);
  float dk[kRowsPerWarp][DPL], dv[kRowsPerWarp][DPL];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int t = 0; t < DPL; ++t) dk[r][t] = dv[r][t] = 0.0f;

  // Keys outside [begin, pad_end) are never visible; a causal row i sees key j once
  // i >= j - (Lk - Lq), so query tiles before that contribute nothing.
  AttentionShape without_causal = s;
  without_causal.causal = false;
  const KeyRange padding = attention_key_range(without_causal, b, 0);
  const bool any_visible = j0 < padding.end && j0 + cols > padding.begin;
  const int64_t first_row = s.causal ? max64(0, j0 - (Lk - Lq)) : 0;
  for (int64_t h = hk * group; any_visible && h < (hk + 1) * group; ++h) {
    const int64_t bh = b * s.q_heads + h;
    for (int64_t i0 = (first_row / kTile) * kTile; i0 < Lq; i0 += kTile) {
      const int rows = int(min64(kTile, Lq - i0));
      __syncthreads();
      load_transposed(static_cast<const T*>(p.q) + (bh * Lq + i0) * D, rows, D, qt);
      load_transposed(static_cast<const T*>(p.grad_out) + (bh * Lq + i0) * D, rows, D, got);
      if (threadIdx.x < kTile) {
        const bool valid = int(threadIdx.x) < rows;
        lse_s[threadIdx.x] = valid ? p.lse[bh * Lq + i0 + threadIdx.x] : 0.0f;
        delta_s[threadIdx.x] = valid ? p.delta[bh * Lq + i0 + threadIdx.x] : 0.0f;
      }
      __syncthreads();
      const int64_t my_end = lane < rows ? attention_key_range(s, b, i0 + lane).end : 0;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int local = warp * kRowsPerWarp + r;
        const int64_t j = j0 + local;
        if (local >= cols || j < padding.begin || j >= padding.end) continue;  // warp-uniform
        grad_kv_tile(s, ks + local * D, vs + local * D, qt, got, lse_s, delta_s, lane < rows && j < my_end, 0,
                     rows, uint64_t((bh * Lq + i0 + lane) * Lk + j), keep_scale, dk[r], dv[r], lane, D);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < cols) store_kv_row<T>(p, bhk * Lk + j0 + local, dk[r], dv[r], s.scale, lane, D);
  }
}

// ---------------------------------------------------------------------------------------------
// Packed kernels (variant "packed"): a block owns 32 consecutive rows of the flattened
// [B * heads * L] row space, so short sequences (L = 10 or 50) fill every warp and one block
// serves several (batch, head) pairs. The keys (or queries) of the pairs a block spans are
// streamed as one concatenated column list; every row sees one interval of it, because every
// mask here is an interval per row.

// Loads columns [c0, c0 + cols) of the concatenated K and V of the pairs from `first_pair` on:
// column c is key c % Lk of query pair first_pair + c / Lk.
template <class T>
__device__ __forceinline__ void load_key_columns(const AttentionShape& s, const T* k_all, const T* v_all,
                                                 int64_t first_pair, int64_t c0, int cols, float* kt,
                                                 float* v_rows, bool v_transposed) {
  const int D = int(s.head_dim);
  const int64_t group = s.q_heads / s.kv_heads;
  for (int e = threadIdx.x; e < kTile * D; e += blockDim.x) {
    const int c = e / D, d = e % D;
    float kv = 0.0f, vv = 0.0f;
    if (c < cols) {
      const int64_t column = c0 + c, bh = first_pair + column / s.kv_len, j = column % s.kv_len;
      const int64_t b = bh / s.q_heads, hk = (bh % s.q_heads) / group;
      const int64_t at = ((b * s.kv_heads + hk) * s.kv_len + j) * D + d;
      kv = to_float(k_all[at]);
      vv = to_float(v_all[at]);
    }
    kt[d * kPad + c] = kv;
    if (v_transposed)
      v_rows[d * kPad + c] = vv;
    else
      v_rows[c * D + d] = vv;
  }
}

// The concatenated-column interval [lo, hi) a query row sees (empty when hi <= lo).
__device__ __forceinline__ void query_row_columns(const AttentionShape& s, int64_t row, int64_t first_pair,
                                                  int64_t* lo, int64_t* hi) {
  const int64_t bh = row / s.q_len, i = row % s.q_len;
  const KeyRange range = attention_key_range(s, bh / s.q_heads, i);
  const int64_t offset = (bh - first_pair) * s.kv_len;
  *lo = offset + range.begin;
  *hi = offset + range.end;
}

// The concatenated columns [*lo, *hi) the query rows g0 .. g0 + rows - 1 of a packed block see:
// every row's interval lies within [first pair's begin, last pair's offset + last row's end).
__device__ __forceinline__ void packed_column_span(const AttentionShape& s, int64_t g0, int rows,
                                                   int64_t first_pair, int64_t last_pair, int64_t* lo,
                                                   int64_t* hi) {
  int64_t unused;
  query_row_columns(s, g0, first_pair, lo, &unused);
  query_row_columns(s, g0 + rows - 1, first_pair, &unused, hi);
  *hi = max64(*hi, (last_pair - first_pair) * s.kv_len);  // the last row may see nothing
}

// The Philox element of query row `row` (flattened) and concatenated column `column`.
__device__ __forceinline__ uint64_t packed_element(int64_t row, int64_t column, int64_t first_pair,
                                                   int64_t Lq, int64_t Lk) {
  return uint64_t(row * Lk + column - (row / Lq - first_pair) * Lk);
}

// Streams the concatenated key columns [col_lo, col_hi) of a packed block through shared memory
// (K transposed into kt; V into v_tile, transposed when v_transposed) and calls tile(r, lo, hi,
// c0) for each row r of this warp that sees tile columns [lo, hi) of the tile starting at c0.
template <class T, class Tile>
__device__ __forceinline__ void packed_key_tiles(const AttentionShape& s, const T* k, const T* v,
                                                 int64_t first_pair, int64_t col_lo, int64_t col_hi,
                                                 const int64_t (&seg_lo)[kRowsPerWarp],
                                                 const int64_t (&seg_hi)[kRowsPerWarp], float* kt,
                                                 float* v_tile, bool v_transposed, Tile&& tile) {
  for (int64_t c0 = col_lo; c0 < col_hi; c0 += kTile) {
    const int cols = int(min64(kTile, col_hi - c0));
    __syncthreads();  // the previous tile is no longer read
    load_key_columns(s, k, v, first_pair, c0, cols, kt, v_tile, v_transposed);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int lo = int(max64(seg_lo[r] - c0, 0)), hi = int(min64(seg_hi[r] - c0, cols));
      if (hi > lo) tile(r, lo, hi, c0);  // warp-uniform
    }
  }
}

template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) packed_forward(AttentionForwardParams p) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len, total = s.batch * s.q_heads * Lq;
  float* qs = smem;                // [kTileRows][D]
  float* kt = qs + kTileRows * D;  // [D][kPad]
  float* vs = kt + D * kPad;       // [kTile][D]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t g0 = int64_t(blockIdx.x) * kTileRows;
  const int rows = int(min64(kTileRows, total - g0));
  const int64_t first_pair = g0 / Lq, last_pair = (g0 + rows - 1) / Lq;
  const T* q = static_cast<const T*>(p.q) + g0 * D;
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) qs[e] = to_float(q[e]);
  const float keep_scale = attention_keep_scale(s);

  float row_max[kRowsPerWarp], row_sum[kRowsPerWarp], acc[kRowsPerWarp][DPL];
  int64_t seg_lo[kRowsPerWarp], seg_hi[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
    seg_lo[r] = seg_hi[r] = 0;
    if (local < rows) query_row_columns(s, g0 + local, first_pair, &seg_lo[r], &seg_hi[r]);
#pragma unroll
    for (int t = 0; t < DPL; ++t) acc[r][t] = 0.0f;
  }
  int64_t col_lo, col_hi;
  packed_column_span(s, g0, rows, first_pair, last_pair, &col_lo, &col_hi);
  packed_key_tiles(s, static_cast<const T*>(p.k), static_cast<const T*>(p.v), first_pair, col_lo, col_hi,
                   seg_lo, seg_hi, kt, vs, false, [&](int r, int lo, int hi, int64_t c0) {
                     const int local = warp * kRowsPerWarp + r;
                     forward_tile(s, qs + local * D, kt, vs, lo, hi,
                                  packed_element(g0 + local, c0 + lane, first_pair, Lq, Lk), keep_scale,
                                  row_max[r], row_sum[r], acc[r], lane, D);
                   });
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < rows) finish_forward_row<T>(p, g0 + local, row_max[r], row_sum[r], acc[r], lane, D);
  }
}

template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) packed_grad_q(AttentionBackwardParams p) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len, total = s.batch * s.q_heads * Lq;
  float* qs = smem;                 // [kTileRows][D]
  float* gos = qs + kTileRows * D;  // [kTileRows][D]
  float* kt = gos + kTileRows * D;  // [D][kPad]
  float* vt = kt + D * kPad;        // [D][kPad]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t g0 = int64_t(blockIdx.x) * kTileRows;
  const int rows = int(min64(kTileRows, total - g0));
  const int64_t first_pair = g0 / Lq, last_pair = (g0 + rows - 1) / Lq;
  const T* q = static_cast<const T*>(p.q) + g0 * D;
  const T* go = static_cast<const T*>(p.grad_out) + g0 * D;
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) {
    qs[e] = to_float(q[e]);
    gos[e] = to_float(go[e]);
  }
  const float keep_scale = attention_keep_scale(s);

  float acc[kRowsPerWarp][DPL], lse[kRowsPerWarp], delta[kRowsPerWarp];
  int64_t seg_lo[kRowsPerWarp], seg_hi[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    const bool valid = local < rows;
    seg_lo[r] = seg_hi[r] = 0;
    if (valid) query_row_columns(s, g0 + local, first_pair, &seg_lo[r], &seg_hi[r]);
    lse[r] = valid ? p.lse[g0 + local] : 0.0f;
    delta[r] = valid ? p.delta[g0 + local] : 0.0f;
#pragma unroll
    for (int t = 0; t < DPL; ++t) acc[r][t] = 0.0f;
  }
  int64_t col_lo, col_hi;
  packed_column_span(s, g0, rows, first_pair, last_pair, &col_lo, &col_hi);
  packed_key_tiles(s, static_cast<const T*>(p.k), static_cast<const T*>(p.v), first_pair, col_lo, col_hi,
                   seg_lo, seg_hi, kt, vt, true, [&](int r, int lo, int hi, int64_t c0) {
                     const int local = warp * kRowsPerWarp + r;
                     grad_q_tile(s, qs + local * D, gos + local * D, kt, vt, lse[r], delta[r], lo, hi,
                                 packed_element(g0 + local, c0 + lane, first_pair, Lq, Lk), keep_scale,
                                 acc[r], lane, D);
                   });
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < rows)
      store_lane_dims<T>(static_cast<T*>(p.grad_q) + (g0 + local) * D, acc[r], s.scale, lane, D);
  }
}

// Rows are keys of the flattened [B * Hkv * Lk] space; for each query head offset g of the GQA
// group the columns are the concatenated queries of head hk * group + g of the kv pairs the block
// spans. A key row sees a suffix of its pair's queries (causal) or all of them, or none when the
// key is padding.
template <class T, int DPL>
__global__ void __launch_bounds__(kThreads) packed_grad_kv(AttentionBackwardParams p) {
  extern __shared__ float smem[];
  const AttentionShape& s = p.shape;
  const int D = int(s.head_dim);
  const int64_t Lq = s.q_len, Lk = s.kv_len, group = s.q_heads / s.kv_heads;
  const int64_t total = s.batch * s.kv_heads * Lk;
  float* ks = smem;                                              // [kTileRows][D]
  float* vs = ks + kTileRows * D;                                // [kTileRows][D]
  float* qt = vs + kTileRows * D;                                // [D][kPad]
  float* got = qt + D * kPad;                                    // [D][kPad]
  float* lse_s = got + D * kPad;                                 // [kTile]
  float* delta_s = lse_s + kTile;                                // [kTile]
  int64_t* row_s = reinterpret_cast<int64_t*>(delta_s + kTile);  // [kTile] query row of each column
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t g0 = int64_t(blockIdx.x) * kTileRows;
  const int rows = int(min64(kTileRows, total - g0));
  const int64_t first_pair = g0 / Lk, pairs = (g0 + rows - 1) / Lk - first_pair + 1;
  for (int e = threadIdx.x; e < rows * D; e += blockDim.x) {
    ks[e] = to_float(static_cast<const T*>(p.k)[g0 * D + e]);
    vs[e] = to_float(static_cast<const T*>(p.v)[g0 * D + e]);
  }
  const float keep_scale = attention_keep_scale(s);
  AttentionShape without_causal = s;
  without_causal.causal = false;

  float dk[kRowsPerWarp][DPL], dv[kRowsPerWarp][DPL];
  int64_t seg_lo[kRowsPerWarp], seg_hi[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    seg_lo[r] = seg_hi[r] = 0;
    if (local < rows) {
      const int64_t key_row = g0 + local, bhk = key_row / Lk, j = key_row % Lk;
      const KeyRange padding = attention_key_range(without_causal, bhk / s.kv_heads, 0);
      if (j >= padding.begin && j < padding.end) {
        const int64_t offset = (bhk - first_pair) * Lq;
        seg_lo[r] = offset + (s.causal ? max64(0, j - (Lk - Lq)) : 0);
        seg_hi[r] = offset + Lq;
      }
    }
#pragma unroll
    for (int t = 0; t < DPL; ++t) dk[r][t] = dv[r][t] = 0.0f;
  }
  const int64_t first_key = g0 % Lk;
  const int64_t col_lo = s.causal ? min64(max64(0, first_key - (Lk - Lq)), Lq) : 0, col_hi = pairs * Lq;
  for (int64_t g = 0; g < group; ++g) {
    for (int64_t c0 = col_lo; c0 < col_hi; c0 += kTile) {
      const int cols = int(min64(kTile, col_hi - c0));
      __syncthreads();
      for (int e = threadIdx.x; e < kTile * D; e += blockDim.x) {
        const int c = e / D, d = e % D;
        float qv = 0.0f, gv = 0.0f;
        if (c < cols) {
          const int64_t column = c0 + c, bhk = first_pair + column / Lq, i = column % Lq;
          const int64_t row = ((bhk / s.kv_heads) * s.q_heads + (bhk % s.kv_heads) * group + g) * Lq + i;
          qv = to_float(static_cast<const T*>(p.q)[row * D + d]);
          gv = to_float(static_cast<const T*>(p.grad_out)[row * D + d]);
          if (d == 0) {
            lse_s[c] = p.lse[row];
            delta_s[c] = p.delta[row];
            row_s[c] = row;
          }
        }
        qt[d * kPad + c] = qv;
        got[d * kPad + c] = gv;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int local = warp * kRowsPerWarp + r;
        const int lo = int(max64(seg_lo[r] - c0, 0)), hi = int(min64(seg_hi[r] - c0, cols));
        if (hi <= lo) continue;  // warp-uniform
        const int64_t j = (g0 + local) % Lk;
        // row_s[lane] is only read (and only written) for a column of this tile.
        const uint64_t element = lane < cols ? uint64_t(row_s[lane] * Lk + j) : 0;
        grad_kv_tile(s, ks + local * D, vs + local * D, qt, got, lse_s, delta_s, lane >= lo && lane < hi, lo,
                     hi, element, keep_scale, dk[r], dv[r], lane, D);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int local = warp * kRowsPerWarp + r;
    if (local < rows) store_kv_row<T>(p, g0 + local, dk[r], dv[r], s.scale, lane, D);
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE: one thread per rotated pair; angles in f64 so that long positions keep their precision.

template <class T>
__global__ void rope_kernel(RopeParams p) {
  const int64_t half = p.head_dim / 2;
  const int64_t pairs = p.batch * p.heads * p.len * half;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < pairs;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = e % half, row = e / half;  // row = (b * H + h) * L + l
    const int64_t l = row % p.len, b = row / (p.len * p.heads);
    const double position = double(p.positions[p.positions_per_batch ? b * p.len + l : l]);
    const double angle = position * pow(p.theta, -2.0 * double(k) / double(p.head_dim));
    double sin_d, cos_d;
    sincos(angle, &sin_d, &cos_d);
    const float c = float(cos_d), sn = (p.inverse ? -1.0f : 1.0f) * float(sin_d);
    const T* x = static_cast<const T*>(p.x) + row * p.head_dim;
    T* out = static_cast<T*>(p.out) + row * p.head_dim;
    const float x1 = to_float(x[k]), x2 = to_float(x[k + half]);
    out[k] = from_float<T>(x1 * c - x2 * sn);
    out[k + half] = from_float<T>(x2 * c + x1 * sn);
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers

template <int DPL, class Fn>
void with_dims_per_lane(int64_t head_dim, Fn&& fn) {
  if constexpr (DPL <= 4) {
    if (head_dim <= 32 * DPL)
      fn(std::integral_constant<int, DPL>{});
    else
      with_dims_per_lane<DPL + 1>(head_dim, fn);
  } else {
    fail("attention: head dim ", head_dim, " is above the CUDA kernels' limit of 128");
  }
}

// The variant table (native/core/kernel_variants.cc) names "reference", "fast" (tiles of one
// (batch, head)) and "packed"
// (tiles across pairs). By default problems whose queries and keys both number at most
// kPackedMaxLen use "packed", where a per-pair tile would leave warps idle; longer ones use
// "fast" (with one short side, a packed block would stream every pair's long side for one row).
enum class Variant { Reference, Fast, Packed };
constexpr int64_t kPackedMaxLen = 64;

Variant pick_variant(int64_t len) {
  const std::string name = kernel_variant("attention");
  if (name == "reference") return Variant::Reference;
  if (name == "fast") return Variant::Fast;
  if (name == "packed") return Variant::Packed;
  return len <= kPackedMaxLen ? Variant::Packed : Variant::Fast;
}

// Raises the kernel's dynamic shared memory limit when it needs more than the default 48 KiB.
template <class Kernel>
void prepare_shared(Kernel kernel, size_t bytes, const CudaStream& s) {
  if (s.max_shared_memory_per_block > 0 && bytes > size_t(s.max_shared_memory_per_block))
    fail("attention: needs ", bytes, " bytes of shared memory per block; the device allows ",
         s.max_shared_memory_per_block);
  if (bytes > 48 * 1024)
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

template <class T>
void forward_typed(const AttentionForwardParams& p, const CudaStream& s) {
  const AttentionShape& a = p.shape;
  const int64_t rows = a.batch * a.q_heads * a.q_len;
  const Variant variant = pick_variant(std::max(a.q_len, a.kv_len));
  if (variant == Variant::Reference) {
    reference_forward<T><<<unsigned((rows + 127) / 128), 128, 0, s.stream>>>(p);
    return;
  }
  const size_t bytes = sizeof(float) * size_t(a.head_dim) * (kTileRows + kPad + kTile);
  with_dims_per_lane<1>(a.head_dim, [&](auto dpl) {
    constexpr int kDpl = decltype(dpl)::value;
    if (variant == Variant::Packed) {
      auto kernel = packed_forward<T, kDpl>;
      prepare_shared(kernel, bytes, s);
      kernel<<<unsigned((rows + kTileRows - 1) / kTileRows), kThreads, bytes, s.stream>>>(p);
    } else {
      const int64_t query_tiles = (a.q_len + kTileRows - 1) / kTileRows;
      auto kernel = fast_forward<T, kDpl>;
      prepare_shared(kernel, bytes, s);
      kernel<<<unsigned(a.batch * a.q_heads * query_tiles), kThreads, bytes, s.stream>>>(p, query_tiles);
    }
  });
}

template <class T>
void backward_typed(const AttentionBackwardParams& p, const CudaStream& s) {
  const AttentionShape& a = p.shape;
  const int64_t rows = a.batch * a.q_heads * a.q_len;
  const int64_t key_rows = a.batch * a.kv_heads * a.kv_len;
  if (rows > 0) delta_kernel<T><<<grid_for(rows * 32, 256, s), 256, 0, s.stream>>>(p, rows);
  const Variant variant = pick_variant(std::max(a.q_len, a.kv_len));
  if (variant == Variant::Reference) {
    if (rows > 0) reference_grad_q<T><<<unsigned((rows + 127) / 128), 128, 0, s.stream>>>(p);
    if (key_rows > 0) reference_grad_kv<T><<<unsigned((key_rows + 127) / 128), 128, 0, s.stream>>>(p);
    return;
  }
  const size_t bytes = sizeof(float) * (size_t(a.head_dim) * (2 * kTileRows + 2 * kPad) + 2 * kTile);
  const size_t packed_kv_bytes = bytes + sizeof(int64_t) * kTile;
  with_dims_per_lane<1>(a.head_dim, [&](auto dpl) {
    constexpr int kDpl = decltype(dpl)::value;
    if (rows > 0 && variant == Variant::Packed) {
      auto kernel = packed_grad_q<T, kDpl>;
      prepare_shared(kernel, bytes, s);
      kernel<<<unsigned((rows + kTileRows - 1) / kTileRows), kThreads, bytes, s.stream>>>(p);
    } else if (rows > 0) {
      const int64_t query_tiles = (a.q_len + kTileRows - 1) / kTileRows;
      auto kernel = fast_grad_q<T, kDpl>;
      prepare_shared(kernel, bytes, s);
      kernel<<<unsigned(a.batch * a.q_heads * query_tiles), kThreads, bytes, s.stream>>>(p, query_tiles);
    }
    if (key_rows > 0 && variant == Variant::Packed) {
      auto kernel = packed_grad_kv<T, kDpl>;
      prepare_shared(kernel, packed_kv_bytes, s);
      kernel<<<unsigned((key_rows + kTileRows - 1) / kTileRows), kThreads, packed_kv_bytes, s.stream>>>(p);
    } else if (key_rows > 0) {
      const int64_t key_tiles = (a.kv_len + kTileRows - 1) / kTileRows;
      auto kernel = fast_grad_kv<T, kDpl>;
      prepare_shared(kernel, bytes, s);
      kernel<<<unsigned(a.batch * a.kv_heads * key_tiles), kThreads, bytes, s.stream>>>(p, key_tiles);
    }
  });
}

// Lengths live on the device, so only a kernel sees them. The attention kernels clamp them
// anyway; this reports a bad one as the CPU twin does.
__global__ void check_key_lengths_kernel(AttentionShape a, KernelErrorRecord* errors) {
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < a.batch;
       b += int64_t(gridDim.x) * blockDim.x)
    if (a.key_lengths[b] < 0 || a.key_lengths[b] > a.kv_len)
      report_error(errors, a.key_lengths_error_site, b, a.key_lengths[b]);
}

void check_key_lengths(const AttentionShape& a, const CudaStream& s) {
  if (a.key_lengths != nullptr && a.batch > 0)
    check_key_lengths_kernel<<<grid_for(a.batch, 256, s), 256, 0, s.stream>>>(a, s.errors);
}

}  // namespace

void attention_forward(const AttentionForwardParams& p, const CudaStream& s) {
  if (p.shape.batch * p.shape.q_heads * p.shape.q_len == 0) return;
  check_key_lengths(p.shape, s);
  visit_floating(p.shape.dtype,
                 [&](auto* tag) { forward_typed<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void attention_backward(const AttentionBackwardParams& p, const CudaStream& s) {
  check_key_lengths(p.shape, s);
  visit_floating(p.shape.dtype,
                 [&](auto* tag) { backward_typed<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void rope(const RopeParams& p, const CudaStream& s) {
  const int64_t pairs = p.batch * p.heads * p.len * (p.head_dim / 2);
  if (pairs == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    rope_kernel<T><<<grid_for(pairs, 256, s), 256, 0, s.stream>>>(p);
  });
}

}  // namespace llmrec::kernels::cuda

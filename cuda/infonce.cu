// CUDA twin of native/cpu/infonce.cc.
//
// Every pairwise pass (q→k, k→q, uniformity) runs the same tile: a block of 256 threads computes
// a kRowTile x kColTile block of similarities from shared-memory chunks of the rows and columns
// (each thread a 2 x 4 micro-tile), applies the mask and leaves the tile in shared memory.
//   - forward: a block per row tile sweeps the column tiles with an online log-sum-exp, a warp
//     per 4 rows; only the per-row log-sum-exps and the positives' logits reach global memory.
//   - backward: the tile becomes dLoss/ds; a block per row tile accumulates the row gradients
//     (a row-major pass) and a block per column tile the column gradients (a column-major pass),
//     each block the only writer of its output rows, so there are no atomics and the order of
//     every sum is fixed.
// Inputs are normalised (or copied) once into f32 scratch, which is O((B + N + M)·d).
// Variants (family infonce): reference, as above; grid (cuda/infonce_grid.cu) replaces the two
// serial steps, the loss's final combination and the symmetric loss's key-gradient scatter.
#include <algorithm>
#include <cmath>

#include "../native/kernels/infonce.h"
#include "common.cuh"
#include "infonce_grid.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;
constexpr int kRowTile = 32;
constexpr int kColTile = 64;
constexpr int kDimChunk = 32;
constexpr float kNormEps = 1e-12f;  // as torch.nn.functional.normalize

struct PairArgs {
  const float* rows;  // [R, d]
  const float* cols;  // [C, d]
  int64_t R, C, d;
  bool squared_distance;  // s = -coef·||a - b||², else s = coef·a·b
  float coef;
  const int32_t* row_positive;  // [R] or null
  const int32_t* row_id;        // [R]; with col_id: masking of false negatives
  const int32_t* col_id;        // [C] or null
  bool exclude_diagonal;
};

struct TileStorage {
  float a[kDimChunk][kRowTile + 1];
  float b[kDimChunk][kColTile + 1];
  float s[kRowTile][kColTile + 1];
  float stage[kColTile][kDimChunk + 1];
};

__device__ __forceinline__ bool masked(const PairArgs& ps, int64_t i, int64_t j) {
  if (ps.exclude_diagonal && i == j) return true;
  return ps.col_id != nullptr && j != ps.row_positive[i] && ps.col_id[j] == ps.row_id[i];
}

// t.s[r][c] = s(i0 + r, j0 + c), -inf where masked or outside. All threads of the block call it.
__device__ void compute_tile(const PairArgs& ps, int64_t i0, int64_t j0, TileStorage& t) {
  __syncthreads();  // the previous tile may still be read
  const int tid = threadIdx.x;
  const int ty = tid / 16, tx = tid % 16;
  float acc[2][4] = {};
  for (int64_t k0 = 0; k0 < ps.d; k0 += kDimChunk) {
    for (int e = tid; e < kRowTile * kDimChunk; e += kThreads) {
      const int r = e / kDimChunk, kk = e % kDimChunk;
      const int64_t i = i0 + r, k = k0 + kk;
      t.a[kk][r] = (i < ps.R && k < ps.d) ? ps.rows[i * ps.d + k] : 0.0f;
    }
    for (int e = tid; e < kColTile * kDimChunk; e += kThreads) {
      const int c = e / kDimChunk, kk = e % kDimChunk;
      const int64_t j = j0 + c, k = k0 + kk;
      t.b[kk][c] = (j < ps.C && k < ps.d) ? ps.cols[j * ps.d + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < kDimChunk; ++kk) {
      const float a0 = t.a[kk][2 * ty], a1 = t.a[kk][2 * ty + 1];
#pragma unroll
      for (int cc = 0; cc < 4; ++cc) {
        const float b = t.b[kk][tx + 16 * cc];
        if (ps.squared_distance) {
          const float d0 = a0 - b, d1 = a1 - b;
          acc[0][cc] += d0 * d0;
          acc[1][cc] += d1 * d1;
        } else {
          acc[0][cc] += a0 * b;
          acc[1][cc] += a1 * b;
        }
      }
    }
    __syncthreads();  // the chunks are overwritten next
  }
  // Zero-padded dimensions add (0 - 0)² = 0 and 0·0 = 0, so the padding changes nothing.
#pragma unroll
  for (int rr = 0; rr < 2; ++rr)
#pragma unroll
    for (int cc = 0; cc < 4; ++cc) {
      const int r = 2 * ty + rr, c = tx + 16 * cc;
      const int64_t i = i0 + r, j = j0 + c;
      float v = -INFINITY;
      if (i < ps.R && j < ps.C && !masked(ps, i, j))
        v = ps.squared_distance ? -ps.coef * acc[rr][cc] : ps.coef * acc[rr][cc];
      t.s[r][c] = v;
    }
  __syncthreads();
}

// The larger of two, or NaN when either is: fmaxf drops a NaN, and a log-sum-exp whose max
// skipped one would turn a NaN input into a finite or -inf loss instead of NaN.
__device__ __forceinline__ float max_keeping_nan(float a, float b) {
  return a != a || b != b ? a + b : fmaxf(a, b);
}

// Per row: log-sum-exp over the kept columns into lse[i], and the positive's logit.
__global__ void __launch_bounds__(kThreads)
    row_logsumexp_kernel(PairArgs ps, float* __restrict__ lse, float* __restrict__ positive_logit) {
  __shared__ TileStorage t;
  const int64_t i0 = int64_t(blockIdx.x) * kRowTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float run_max[4], run_sum[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    run_max[q] = -INFINITY;
    run_sum[q] = 0.0f;
  }
  for (int64_t j0 = 0; j0 < ps.C; j0 += kColTile) {
    compute_tile(ps, i0, j0, t);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int r = warp * 4 + q;
      const float v0 = t.s[r][lane], v1 = t.s[r][lane + 32];
      const float tile_max =
          warp_reduce(max_keeping_nan(v0, v1), [](float x, float y) { return max_keeping_nan(x, y); });
      if (tile_max == -INFINITY) continue;  // uniform across the warp
      const float new_max = max_keeping_nan(run_max[q], tile_max);
      const float tile_sum =
          warp_reduce(expf(v0 - new_max) + expf(v1 - new_max), [](float x, float y) { return x + y; });
      run_sum[q] = run_sum[q] * expf(run_max[q] - new_max) + tile_sum;
      run_max[q] = new_max;
      const int64_t i = i0 + r;
      if (ps.row_positive != nullptr && i < ps.R) {
        const int64_t c = ps.row_positive[i] - j0;
        if (c >= 0 && c < kColTile && (c % 32) == lane) positive_logit[i] = t.s[r][c];
      }
    }
  }
  if (lane == 0)
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int64_t i = i0 + warp * 4 + q;
      if (i < ps.R) lse[i] = run_max[q] + logf(run_sum[q]);
    }
}

// Turns the similarity tile into G = weight · dLoss/ds · ds/d(pair), in place. `lse_stride` 0
// means every row shares lse[0] (the uniformity term's single log-sum-exp).
__device__ void gradient_tile(const PairArgs& ps, const float* lse, int lse_stride, float weight, int64_t i0,
                              int64_t j0, TileStorage& t) {
  const float chain = ps.squared_distance ? -2.0f * ps.coef : ps.coef;
  for (int e = threadIdx.x; e < kRowTile * kColTile; e += kThreads) {
    const int r = e / kColTile, c = e % kColTile;
    const int64_t i = i0 + r, j = j0 + c;
    const float v = t.s[r][c];
    float g = 0.0f;
    if (v != -INFINITY) {
      g = expf(v - lse[i * lse_stride]);
      if (ps.row_positive != nullptr && ps.row_positive[i] == j) g -= 1.0f;
    }
    t.s[r][c] = g * weight * chain;
  }
  __syncthreads();
}

// The tile's entry for own index o and other index x (own = rows when kRows, else columns).
template <bool kRows>
__device__ __forceinline__ float tile_entry(const TileStorage& t, int o, int x) {
  return kRows ? t.s[o][x] : t.s[x][o];
}

// One side's gradient, a block per tile of that side ("own"), sweeping the other side's tiles:
// rows (kRows): d_rows[i] = Σ_j G_ij b_j (dot), or a_i Σ_j G_ij - Σ_j G_ij b_j (squared
// distance); columns: d_cols[j] = Σ_i G_ij a_i, or b_j Σ_i G_ij - Σ_i G_ij a_i.
template <bool kRows>
__global__ void __launch_bounds__(kThreads)
    side_gradient_kernel(PairArgs ps, const float* __restrict__ lse, int lse_stride,
                         const float* __restrict__ grad_loss, float factor, float* __restrict__ d_own) {
  constexpr int kOwnTile = kRows ? kRowTile : kColTile, kOtherTile = kRows ? kColTile : kRowTile;
  __shared__ TileStorage t;
  __shared__ float own_sum[kOwnTile];
  const int64_t own0 = int64_t(blockIdx.x) * kOwnTile;
  const int64_t own_count = kRows ? ps.R : ps.C, other_count = kRows ? ps.C : ps.R;
  const float* own = kRows ? ps.rows : ps.cols;
  const float* other = kRows ? ps.cols : ps.rows;
  const float weight = grad_loss[0] * factor;
  if (threadIdx.x < kOwnTile) own_sum[threadIdx.x] = 0.0f;
  for (int64_t x0 = 0; x0 < other_count; x0 += kOtherTile) {
    const int64_t i0 = kRows ? own0 : x0, j0 = kRows ? x0 : own0;
    compute_tile(ps, i0, j0, t);
    gradient_tile(ps, lse, lse_stride, weight, i0, j0, t);
    if (threadIdx.x < kOwnTile) {
      float sum = 0.0f;
      for (int x = 0; x < kOtherTile; ++x) sum += tile_entry<kRows>(t, int(threadIdx.x), x);
      own_sum[threadIdx.x] += sum;
    }
    for (int64_t k0 = 0; k0 < ps.d; k0 += kDimChunk) {
      for (int e = threadIdx.x; e < kOtherTile * kDimChunk; e += kThreads) {
        const int x = e / kDimChunk, kk = e % kDimChunk;
        const int64_t xi = x0 + x, k = k0 + kk;
        t.stage[x][kk] = (xi < other_count && k < ps.d) ? other[xi * ps.d + k] : 0.0f;
      }
      __syncthreads();
      for (int e = threadIdx.x; e < kOwnTile * kDimChunk; e += kThreads) {
        const int o = e / kDimChunk, kk = e % kDimChunk;
        const int64_t oi = own0 + o, k = k0 + kk;
        if (oi >= own_count || k >= ps.d) continue;
        float acc = 0.0f;
#pragma unroll 8
        for (int x = 0; x < kOtherTile; ++x) acc += tile_entry<kRows>(t, o, x) * t.stage[x][kk];
        // The same thread owns (o, k) in every tile of the other side, so no other thread touches it.
        float* dst = d_own + oi * ps.d + k;
        *dst = x0 == 0 ? acc : *dst + acc;
      }
      __syncthreads();
    }
  }
  if (ps.squared_distance) {
    for (int64_t e = threadIdx.x; e < int64_t(kOwnTile) * ps.d; e += kThreads) {
      const int o = int(e / ps.d);
      const int64_t oi = own0 + o, k = e % ps.d;
      if (oi < own_count) d_own[oi * ps.d + k] = own[oi * ps.d + k] * own_sum[o] - d_own[oi * ps.d + k];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Preparation and finishing

// Resolves positives (reporting and clamping bad ones so nothing reads out of bounds), the item
// id of each query's positive, and the identity used as the k→q positives.
__global__ void prepare_positives_kernel(const int32_t* __restrict__ positives,
                                         const int32_t* __restrict__ item_ids, int64_t batch,
                                         int64_t key_count, int32_t* __restrict__ positive,
                                         int32_t* __restrict__ row_id, int32_t* __restrict__ index,
                                         int error_site, KernelErrorRecord* errors) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < batch;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t j = positives != nullptr ? positives[i] : i;
    if (j < 0 || j >= key_count) {
      report_error(errors, error_site, j, key_count);
      j = 0;
    }
    positive[i] = int32_t(j);
    row_id[i] = item_ids != nullptr ? item_ids[j] : 0;
    index[i] = int32_t(i);
  }
}

// A warp per row: f32 copy, normalised when asked, and the inverse norm.
template <class T>
__global__ void load_rows_kernel(const T* __restrict__ src, int64_t n, int64_t d, bool normalize,
                                 float* __restrict__ dst, float* __restrict__ inv_norm) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; r < n; r += warps) {
    float squares = 0.0f;
    for (int64_t k = lane; k < d; k += 32) {
      const float v = to_float(src[r * d + k]);
      squares += v * v;
    }
    squares = warp_reduce(squares, [](float x, float y) { return x + y; });
    const float inv = normalize ? 1.0f / fmaxf(sqrtf(squares), kNormEps) : 1.0f;
    for (int64_t k = lane; k < d; k += 32) dst[r * d + k] = to_float(src[r * d + k]) * inv;
    if (lane == 0) inv_norm[r] = inv;
  }
}

__global__ void gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ index,
                                   int64_t n, int64_t d, float* __restrict__ dst) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * d;
       e += int64_t(gridDim.x) * blockDim.x)
    dst[e] = src[int64_t(index[e / d]) * d + e % d];
}

__global__ void add_kernel(float* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x)
    dst[e] += src[e];
}

// d_keys[positive[i]] += src[i] in query order, so repeated positives add up in a fixed order:
// a thread per column walks the queries.
__global__ void scatter_rows_kernel(float* __restrict__ d_keys, const float* __restrict__ src,
                                    const int32_t* __restrict__ positive, int64_t batch, int64_t d) {
  const int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (k >= d) return;
  for (int64_t i = 0; i < batch; ++i) d_keys[int64_t(positive[i]) * d + k] += src[i * d + k];
}

// One thread combines the per-row terms in order, in double: the loss is bit-for-bit repeatable.
__global__ void finish_loss_kernel(InfoNceParams p, const float* __restrict__ positive_logit,
                                   const float* __restrict__ positive_back,
                                   const float* __restrict__ uniform_lse) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const int64_t B = p.batch;
  double forward = 0.0;
  for (int64_t i = 0; i < B; ++i) forward += double(p.stats[i]) - double(positive_logit[i]);
  double loss = forward / double(B);
  if (p.symmetric) {
    double backward = 0.0;
    for (int64_t i = 0; i < B; ++i) backward += double(p.stats[B + i]) - double(positive_back[i]);
    loss = 0.5 * (loss + backward / double(B));
  } else {
    for (int64_t i = 0; i < B; ++i) p.stats[B + i] = 0.0f;
  }
  p.stats[2 * B] = 0.0f;
  if (p.uniformity_weight != 0.0f) {
    double m = -INFINITY;
    for (int64_t i = 0; i < B; ++i)
      m = m != m || uniform_lse[i] != uniform_lse[i] ? NAN : fmax(m, double(uniform_lse[i]));
    double sum = 0.0;
    for (int64_t i = 0; i < B; ++i) sum += exp(double(uniform_lse[i]) - m);
    const float total = float(m + log(sum));
    p.stats[2 * B] = total;
    loss += double(p.uniformity_weight) * (double(total) - log(double(B) * double(B - 1)));
  }
  p.loss[0] = float(loss);
}

// dx = (dx̂ - x̂ (x̂·dx̂)) / ||x|| for normalised rows, dx = dx̂ otherwise; a warp per row.
template <class T>
__global__ void store_input_gradient_kernel(const float* __restrict__ x_hat,
                                            const float* __restrict__ inv_norm,
                                            const float* __restrict__ grad_hat, int64_t n, int64_t d,
                                            bool normalize, T* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; r < n; r += warps) {
    float projection = 0.0f;
    if (normalize) {
      float dot = 0.0f;
      for (int64_t k = lane; k < d; k += 32) dot += x_hat[r * d + k] * grad_hat[r * d + k];
      dot = warp_reduce(dot, [](float x, float y) { return x + y; });
      // Below the clamp x̂ = x / eps is linear in x, so its gradient has no projection.
      projection = inv_norm[r] >= 1.0f / kNormEps ? 0.0f : dot;
    }
    for (int64_t k = lane; k < d; k += 32)
      out[r * d + k] = from_float<T>((grad_hat[r * d + k] - x_hat[r * d + k] * projection) * inv_norm[r]);
  }
}

// Scratch shared by forward and backward: normalised copies and the resolved indices.
struct Workspace {
  char* base = nullptr;
  size_t bytes = 0;
  float *q = nullptr, *k = nullptr, *q_inv = nullptr, *k_inv = nullptr, *anchors = nullptr;
  float *row_a = nullptr, *row_b = nullptr, *row_c = nullptr;  // [B] each
  float *d_q = nullptr, *d_k = nullptr, *tmp = nullptr;        // backward only
  int32_t *positive = nullptr, *row_id = nullptr, *index = nullptr;
};

size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

Workspace make_workspace(const InfoNceParams& p, bool backward, const CudaStream& s) {
  const int64_t B = p.batch, T = p.key_count + p.negative_count, d = p.dim;
  const size_t f = sizeof(float);
  size_t sizes[14] = {align_up(size_t(B * d) * f),
                      align_up(size_t(T * d) * f),
                      align_up(size_t(B) * f),
                      align_up(size_t(T) * f),
                      align_up(p.symmetric ? size_t(B * d) * f : 0),
                      align_up(size_t(B) * f),
                      align_up(size_t(B) * f),
                      align_up(size_t(B) * f),
                      align_up(backward ? size_t(B * d) * f : 0),
                      align_up(backward ? size_t(T * d) * f : 0),
                      align_up(backward ? size_t(B * d) * f : 0),
                      align_up(size_t(B) * 4),
                      align_up(size_t(B) * 4),
                      align_up(size_t(B) * 4)};
  Workspace w;
  for (size_t n : sizes) w.bytes += n;
  w.base = static_cast<char*>(s.scratch->allocate(w.bytes));
  char* at = w.base;
  auto take = [&](size_t n) {
    char* ptr = at;
    at += n;
    return ptr;
  };
  w.q = reinterpret_cast<float*>(take(sizes[0]));
  w.k = reinterpret_cast<float*>(take(sizes[1]));
  w.q_inv = reinterpret_cast<float*>(take(sizes[2]));
  w.k_inv = reinterpret_cast<float*>(take(sizes[3]));
  w.anchors = reinterpret_cast<float*>(take(sizes[4]));
  w.row_a = reinterpret_cast<float*>(take(sizes[5]));
  w.row_b = reinterpret_cast<float*>(take(sizes[6]));
  w.row_c = reinterpret_cast<float*>(take(sizes[7]));
  w.d_q = reinterpret_cast<float*>(take(sizes[8]));
  w.d_k = reinterpret_cast<float*>(take(sizes[9]));
  w.tmp = reinterpret_cast<float*>(take(sizes[10]));
  w.positive = reinterpret_cast<int32_t*>(take(sizes[11]));
  w.row_id = reinterpret_cast<int32_t*>(take(sizes[12]));
  w.index = reinterpret_cast<int32_t*>(take(sizes[13]));
  return w;
}

unsigned warp_grid(int64_t rows, const CudaStream& s) { return grid_for(rows * 32, kThreads, s); }

template <class T>
void prepare(const InfoNceParams& p, const Workspace& w, const CudaStream& s) {
  const int64_t B = p.batch, d = p.dim;
  prepare_positives_kernel<<<grid_for(B, kThreads, s), kThreads, 0, s.stream>>>(
      p.positives, p.item_ids, B, p.key_count, w.positive, w.row_id, w.index, infonce_positive_error_site(),
      s.errors);
  load_rows_kernel<T><<<warp_grid(B, s), kThreads, 0, s.stream>>>(static_cast<const T*>(p.queries), B, d,
                                                                  p.normalize, w.q, w.q_inv);
  load_rows_kernel<T><<<warp_grid(p.key_count, s), kThreads, 0, s.stream>>>(
      static_cast<const T*>(p.keys), p.key_count, d, p.normalize, w.k, w.k_inv);
  if (p.negative_count > 0)
    load_rows_kernel<T><<<warp_grid(p.negative_count, s), kThreads, 0, s.stream>>>(
        static_cast<const T*>(p.negatives), p.negative_count, d, p.normalize, w.k + p.key_count * d,
        w.k_inv + p.key_count);
  if (p.symmetric)
    gather_rows_kernel<<<grid_for(B * d, kThreads, s), kThreads, 0, s.stream>>>(w.k, w.positive, B, d,
                                                                                w.anchors);
}

PairArgs query_to_key(const InfoNceParams& p, const Workspace& w) {
  return PairArgs{w.q,
                  w.k,
                  p.batch,
                  p.key_count + p.negative_count,
                  p.dim,
                  false,
                  1.0f / p.temperature,
                  w.positive,
                  w.row_id,
                  p.item_ids,
                  false};
}

PairArgs key_to_query(const InfoNceParams& p, const Workspace& w) {
  return PairArgs{w.anchors,
                  w.q,
                  p.batch,
                  p.batch,
                  p.dim,
                  false,
                  1.0f / p.temperature,
                  w.index,
                  w.row_id,
                  p.item_ids != nullptr ? w.row_id : nullptr,
                  false};
}

PairArgs uniformity(const InfoNceParams& p, const Workspace& w) {
  return PairArgs{w.q, w.q, p.batch, p.batch, p.dim, true, p.uniformity_t, nullptr, nullptr, nullptr, true};
}

unsigned row_tiles(int64_t n) { return unsigned((n + kRowTile - 1) / kRowTile); }
unsigned col_tiles(int64_t n) { return unsigned((n + kColTile - 1) / kColTile); }

template <class T>
void forward_typed(const InfoNceParams& p, const CudaStream& s) {
  const Workspace w = make_workspace(p, false, s);
  prepare<T>(p, w, s);
  const int64_t B = p.batch;
  row_logsumexp_kernel<<<row_tiles(B), kThreads, 0, s.stream>>>(query_to_key(p, w), p.stats, w.row_a);
  if (p.symmetric)
    row_logsumexp_kernel<<<row_tiles(B), kThreads, 0, s.stream>>>(key_to_query(p, w), p.stats + B, w.row_b);
  if (p.uniformity_weight != 0.0f)
    row_logsumexp_kernel<<<row_tiles(B), kThreads, 0, s.stream>>>(uniformity(p, w), w.row_c, nullptr);
  if (kernel_variant("infonce") == "reference")
    finish_loss_kernel<<<1, 32, 0, s.stream>>>(p, w.row_a, w.row_b, w.row_c);
  else
    infonce_finish_loss_tree(p, w.row_a, w.row_b, w.row_c, s);  // cuda/infonce_grid.cu
  s.scratch->release(w.base, w.bytes);
}

template <class T>
void backward_typed(const InfoNceParams& p, const CudaStream& s) {
  const Workspace w = make_workspace(p, true, s);
  prepare<T>(p, w, s);
  const int64_t B = p.batch, d = p.dim, T_rows = p.key_count + p.negative_count;
  const float direction = (p.symmetric ? 0.5f : 1.0f) / float(B);
  const unsigned add_grid = grid_for(B * d, kThreads, s);
  const PairArgs forward_pairs = query_to_key(p, w);
  side_gradient_kernel<true>
      <<<row_tiles(B), kThreads, 0, s.stream>>>(forward_pairs, p.stats, 1, p.grad_loss, direction, w.d_q);
  side_gradient_kernel<false><<<col_tiles(T_rows), kThreads, 0, s.stream>>>(forward_pairs, p.stats, 1,
                                                                            p.grad_loss, direction, w.d_k);
  if (p.symmetric) {
    const PairArgs back_pairs = key_to_query(p, w);
    side_gradient_kernel<false>
        <<<col_tiles(B), kThreads, 0, s.stream>>>(back_pairs, p.stats + B, 1, p.grad_loss, direction, w.tmp);
    add_kernel<<<add_grid, kThreads, 0, s.stream>>>(w.d_q, w.tmp, B * d);
    side_gradient_kernel<true>
        <<<row_tiles(B), kThreads, 0, s.stream>>>(back_pairs, p.stats + B, 1, p.grad_loss, direction, w.tmp);
    if (p.positives == nullptr)  // positive i is key i: a plain add
      add_kernel<<<add_grid, kThreads, 0, s.stream>>>(w.d_k, w.tmp, B * d);
    else if (kernel_variant("infonce") == "reference")
      scatter_rows_kernel<<<unsigned((d + kThreads - 1) / kThreads), kThreads, 0, s.stream>>>(
          w.d_k, w.tmp, w.positive, B, d);
    else
      infonce_scatter_rows_sorted(w.d_k, w.tmp, w.positive, B, p.key_count, d, s);  // cuda/infonce_grid.cu
  }
  if (p.uniformity_weight != 0.0f) {
    const PairArgs ps = uniformity(p, w);
    side_gradient_kernel<true><<<row_tiles(B), kThreads, 0, s.stream>>>(ps, p.stats + 2 * B, 0, p.grad_loss,
                                                                        p.uniformity_weight, w.tmp);
    add_kernel<<<add_grid, kThreads, 0, s.stream>>>(w.d_q, w.tmp, B * d);
    side_gradient_kernel<false><<<col_tiles(B), kThreads, 0, s.stream>>>(ps, p.stats + 2 * B, 0, p.grad_loss,
                                                                         p.uniformity_weight, w.tmp);
    add_kernel<<<add_grid, kThreads, 0, s.stream>>>(w.d_q, w.tmp, B * d);
  }
  store_input_gradient_kernel<T><<<warp_grid(B, s), kThreads, 0, s.stream>>>(
      w.q, w.q_inv, w.d_q, B, d, p.normalize, static_cast<T*>(p.grad_queries));
  store_input_gradient_kernel<T><<<warp_grid(p.key_count, s), kThreads, 0, s.stream>>>(
      w.k, w.k_inv, w.d_k, p.key_count, d, p.normalize, static_cast<T*>(p.grad_keys));
  if (p.negative_count > 0 && p.grad_negatives != nullptr)
    store_input_gradient_kernel<T><<<warp_grid(p.negative_count, s), kThreads, 0, s.stream>>>(
        w.k + p.key_count * d, w.k_inv + p.key_count, w.d_k + p.key_count * d, p.negative_count, d,
        p.normalize, static_cast<T*>(p.grad_negatives));
  s.scratch->release(w.base, w.bytes);
}

}  // namespace

void infonce_forward(const InfoNceParams& p, const CudaStream& s) {
  if (p.dtype == DType::BF16)
    forward_typed<bf16>(p, s);
  else
    forward_typed<float>(p, s);
}

void infonce_backward(const InfoNceParams& p, const CudaStream& s) {
  if (p.dtype == DType::BF16)
    backward_typed<bf16>(p, s);
  else
    backward_typed<float>(p, s);
}

}  // namespace llmrec::kernels::cuda

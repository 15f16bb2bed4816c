// CUDA twin of native/cpu/loss.cc.
//
// The fused linear cross-entropy walks the vocabulary in chunks of C columns: a tiled
// shared-memory GEMM writes the N x C logits of one chunk into scratch (the only logits that
// ever exist), and a row kernel folds them into each row's running (max, sum of exp, sum of
// logits, label logit). The backward recomputes each chunk's logits, turns them into dz in
// place, then dHidden += dz . W[chunk] (an f32 accumulator, updated chunk after chunk in stream
// order) and dWeight[chunk] = dz^T . hidden (each chunk written once). No float atomics, so the
// gradients are deterministic. Variants (family linear_ce): reference runs every product on
// gemm_tiled below, correct for every layout and dtype; tensor (the default for bf16) sends the
// three products of each chunk to the bf16 mma kernels (cuda/linear_ce_tensor.cu).
#include <algorithm>
#include <cub/device/device_radix_sort.cuh>

#include "../native/kernels/loss.h"
#include "common.cuh"
#include "gather_dot_grad.cuh"
#include "linear_ce_tensor.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;
constexpr int kTile = 64;
constexpr int kTileK = 16;
// Bytes of chunk logits to hold at once when the caller leaves the chunk to us.
constexpr int64_t kLogitsBudget = int64_t(128) << 20;

// ---------------------------------------------------------------------------------------------
// GEMM: C[m, n] (+)= sum_k A(m, k) B(k, n), with A(m, k) = A[m * a_m + k * a_k] and
// B(k, n) = B[k * b_k + n * b_n]; C row-major with leading dimension ldc. 64 x 64 tiles, 256
// threads with 4 x 4 outputs each, f32 accumulation, bounds-checked loads and stores.

// Element e of a kTileK x kTile operand tile as (k, row): consecutive threads walk the operand's
// contiguous axis (k when k_contiguous), so the global loads coalesce.
__device__ __forceinline__ void tile_element(int e, bool k_contiguous, int* kk, int* row) {
  if (k_contiguous) {
    *kk = e % kTileK;
    *row = e / kTileK;
  } else {
    *row = e % kTile;
    *kk = e / kTile;
  }
}

template <class TA, class TB, class TC, bool ACCUMULATE>
__global__ void __launch_bounds__(kThreads)
    gemm_tiled(const TA* __restrict__ A, int64_t a_m, int64_t a_k, const TB* __restrict__ B, int64_t b_k,
               int64_t b_n, TC* __restrict__ C, int64_t ldc, int64_t M, int64_t N, int64_t K) {
  __shared__ float As[kTileK][kTile + 4];
  __shared__ float Bs[kTileK][kTile + 4];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t m0 = int64_t(blockIdx.y) * kTile, n0 = int64_t(blockIdx.x) * kTile;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    for (int e = threadIdx.x; e < kTileK * kTile; e += kThreads) {
      int kk, mm;
      tile_element(e, a_k == 1, &kk, &mm);
      const int64_t m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? to_float(A[m * a_m + k * a_k]) : 0.0f;
      int nn;
      tile_element(e, b_k == 1, &kk, &nn);
      const int64_t n = n0 + nn, kb = k0 + kk;
      Bs[kk][nn] = (n < N && kb < K) ? to_float(B[kb * b_k + n * b_n]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx * 4 + j;
      if (n >= N) continue;
      float v = acc[i][j];
      if constexpr (ACCUMULATE) v += to_float(C[m * ldc + n]);
      C[m * ldc + n] = from_float<TC>(v);
    }
  }
}

template <bool ACCUMULATE, class TA, class TB, class TC>
void gemm(const TA* A, int64_t a_m, int64_t a_k, const TB* B, int64_t b_k, int64_t b_n, TC* C, int64_t ldc,
          int64_t M, int64_t N, int64_t K, const CudaStream& s) {
  if (M == 0 || N == 0) return;
  // gridDim.y stops at 65535: M (the chunk width in dWeight, up to the whole vocabulary when
  // the rows are few) goes in slabs of at most 65535 tiles.
  constexpr int64_t kMaxSlabRows = int64_t(65535) * kTile;
  for (int64_t m0 = 0; m0 < M; m0 += kMaxSlabRows) {
    const int64_t rows = std::min(kMaxSlabRows, M - m0);
    const dim3 grid(unsigned((N + kTile - 1) / kTile), unsigned((rows + kTile - 1) / kTile));
    gemm_tiled<TA, TB, TC, ACCUMULATE>
        <<<grid, kThreads, 0, s.stream>>>(A + m0 * a_m, a_m, a_k, B, b_k, b_n, C + m0 * ldc, ldc, rows, N, K);
  }
}

// ---------------------------------------------------------------------------------------------
// Labels and row statistics

// The label of row r, or -1 when the row is ignored or its label is out of range (reported by
// the forward; never used to index).
__device__ __forceinline__ int64_t row_label(const CrossEntropyTargets& t, int64_t r, int64_t classes) {
  const int32_t y = t.labels ? t.labels[r] : 0;
  if (y == t.ignore_index || y < 0 || y >= classes) return -1;
  return y;
}

struct RowStats {
  float max, sum_exp, sum_logits, label_logit;
};

__global__ void init_stats(RowStats* stats, int64_t rows) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x)
    stats[r] = RowStats{-INFINITY, 0.0f, 0.0f, 0.0f};
}

// Folds columns [c0, c0 + width) of every row, held in logits[r * width + j], into stats[r].
__global__ void fold_chunk(const float* __restrict__ logits, int64_t rows, int64_t width, int64_t c0,
                           RowStats* __restrict__ stats, CrossEntropyTargets t, int64_t classes) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* z = logits + r * width;
    float chunk_max = -INFINITY;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) chunk_max = fmaxf(chunk_max, z[j]);
    chunk_max = block_reduce(chunk_max, Max(), -INFINITY, scratch);
    const RowStats old = stats[r];
    const float new_max = fmaxf(old.max, chunk_max);
    float sum_exp = 0.0f, sum_z = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      sum_exp += expf(z[j] - new_max);
      sum_z += z[j];
    }
    sum_exp = block_reduce(sum_exp, Sum(), 0.0f, scratch);
    sum_z = block_reduce(sum_z, Sum(), 0.0f, scratch);
    if (threadIdx.x == 0) {
      RowStats next = old;
      if (new_max != -INFINITY) {
        next.sum_exp = old.sum_exp * expf(old.max - new_max) + sum_exp;
        next.max = new_max;
      }
      next.sum_logits += sum_z;
      const int64_t label = row_label(t, r, classes);
      if (label >= c0 && label < c0 + width) next.label_logit = z[label - c0];
      stats[r] = next;
    }
    __syncthreads();  // stats[r] is read again only by thread 0, but keep rows in lockstep
  }
}

// lse and the row loss; reports labels out of range.
__global__ void finish_rows(const RowStats* __restrict__ stats, int64_t rows, CrossEntropyTargets t,
                            int64_t classes, float* __restrict__ lse, float* __restrict__ row_loss,
                            KernelErrorRecord* errors) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    if (t.labels) {
      const int32_t y = t.labels[r];
      if (y != t.ignore_index && (y < 0 || y >= classes)) report_error(errors, t.error_site, r, y);
    }
    const RowStats s = stats[r];
    const float l = s.max + logf(s.sum_exp);
    lse[r] = l;
    const int64_t label = row_label(t, r, classes);
    row_loss[r] = label < 0 ? 0.0f
                            : l - (1.0f - t.label_smoothing) * s.label_logit -
                                  t.label_smoothing / float(classes) * s.sum_logits;
  }
}

// d(loss)/d(row loss) per row, in one block: count the rows that count, then divide.
__global__ void row_scales(CrossEntropyTargets t, int64_t rows, int64_t classes, LossReduction reduction,
                           const float* __restrict__ grad_loss, float* __restrict__ scale) {
  __shared__ float scratch[32];
  float count = 0.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x)
    count += row_label(t, r, classes) >= 0 ? 1.0f : 0.0f;
  count = block_reduce(count, Sum(), 0.0f, scratch);
  const float divisor = reduction == LossReduction::Mean ? count : 1.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const float g = reduction == LossReduction::None ? grad_loss[r] : grad_loss[0];
    scale[r] = row_label(t, r, classes) >= 0 ? g / divisor : 0.0f;
  }
}

// logits[r * width + j] (columns c0 + j) become dz = scale_r * (softmax - q), in place.
__global__ void logits_to_grad(float* __restrict__ logits, int64_t rows, int64_t width, int64_t c0,
                               const float* __restrict__ lse, const float* __restrict__ scale,
                               CrossEntropyTargets t, int64_t classes) {
  const float uniform = t.label_smoothing / float(classes);
  const int64_t n = rows * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i - r * width;
    const float s = scale[r];
    float g = s * (expf(logits[i] - lse[r]) - uniform);
    if (row_label(t, r, classes) == c0 + j) g -= s * (1.0f - t.label_smoothing);
    logits[i] = g;
  }
}

template <class T>
__global__ void cast_from_f32(const float* __restrict__ src, T* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = from_float<T>(src[i]);
}

__global__ void zero_f32(float* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = 0.0f;
}

int64_t chunk_columns(int64_t requested, int64_t rows, int64_t vocab) {
  int64_t chunk = requested;
  if (chunk <= 0) {
    chunk = kLogitsBudget / (std::max<int64_t>(rows, 1) * int64_t(sizeof(float)));
    chunk = std::max<int64_t>(kTile, chunk / kTile * kTile);
  }
  return std::min(chunk, vocab);
}

unsigned row_grid(int64_t rows, const CudaStream& s) {
  return unsigned(
      std::max<int64_t>(1, std::min<int64_t>(rows, int64_t(std::max(s.multiprocessors, 1)) * 32)));
}

// Variant `tensor` for bf16 (the default), the f32 tiles of the reference otherwise.
template <class T>
bool linear_ce_on_tensor_cores() {
  if constexpr (std::is_same_v<T, bf16>)
    return kernel_variant("linear_ce") != "reference";
  else
    return false;
}

template <class T>
void linear_ce_forward(const LinearCrossEntropyParams& p, const CudaStream& s) {
  const bool tensor = linear_ce_on_tensor_cores<T>();
  const T* hidden = static_cast<const T*>(p.hidden);
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t rows = p.rows, dim = p.dim, vocab = p.vocab;
  const int64_t chunk = chunk_columns(p.chunk, rows, vocab);
  const size_t stats_bytes = size_t(rows) * sizeof(RowStats);
  const size_t logits_bytes = size_t(rows * chunk) * sizeof(float);
  RowStats* stats = static_cast<RowStats*>(s.scratch->allocate(stats_bytes));
  float* logits = static_cast<float*>(s.scratch->allocate(logits_bytes));
  init_stats<<<grid_for(rows, kThreads, s), kThreads, 0, s.stream>>>(stats, rows);
  for (int64_t c0 = 0; c0 < vocab; c0 += chunk) {
    const int64_t width = std::min(chunk, vocab - c0);
    // logits[r, j] = hidden[r, :] . weight[c0 + j, :]
    if (tensor)
      linear_ce_logits_tensor(hidden, weight + c0 * dim, logits, rows, width, dim, s);
    else
      gemm<false>(hidden, dim, 1, weight + c0 * dim, 1, dim, logits, width, rows, width, dim, s);
    fold_chunk<<<row_grid(rows, s), kThreads, 0, s.stream>>>(logits, rows, width, c0, stats, p.targets,
                                                             vocab);
  }
  finish_rows<<<grid_for(rows, kThreads, s), kThreads, 0, s.stream>>>(stats, rows, p.targets, vocab, p.lse,
                                                                      p.row_loss, s.errors);
  s.scratch->release(logits, logits_bytes);
  s.scratch->release(stats, stats_bytes);
}

template <class T>
void linear_ce_backward(const LinearCrossEntropyBackwardParams& bp, const CudaStream& s) {
  const LinearCrossEntropyParams& p = bp.forward;
  const T* hidden = static_cast<const T*>(p.hidden);
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t rows = p.rows, dim = p.dim, vocab = p.vocab;
  const int64_t chunk = chunk_columns(p.chunk, rows, vocab);
  const size_t scale_bytes = size_t(rows) * sizeof(float);
  const size_t logits_bytes = size_t(rows * chunk) * sizeof(float);
  float* scale = static_cast<float*>(s.scratch->allocate(scale_bytes));
  float* logits = static_cast<float*>(s.scratch->allocate(logits_bytes));
  // The tensor variant multiplies a bf16 copy of dz (one chunk).
  const bool tensor = linear_ce_on_tensor_cores<T>();
  const size_t dz16_bytes = tensor ? size_t(rows * chunk) * sizeof(bf16) : 0;
  bf16* dz16 = tensor ? static_cast<bf16*>(s.scratch->allocate(dz16_bytes)) : nullptr;
  row_scales<<<1, 1024, 0, s.stream>>>(p.targets, rows, vocab, bp.reduction, bp.grad_loss, scale);
  // dHidden accumulates over chunks in f32: in place for f32, in scratch for bf16.
  float* grad_hidden_f32 = nullptr;
  size_t grad_hidden_bytes = 0;
  if (bp.grad_hidden) {
    if constexpr (std::is_same_v<T, float>) {
      grad_hidden_f32 = static_cast<float*>(bp.grad_hidden);
    } else {
      grad_hidden_bytes = size_t(rows * dim) * sizeof(float);
      grad_hidden_f32 = static_cast<float*>(s.scratch->allocate(grad_hidden_bytes));
    }
    zero_f32<<<grid_for(rows * dim, kThreads, s), kThreads, 0, s.stream>>>(grad_hidden_f32, rows * dim);
  }
  for (int64_t c0 = 0; c0 < vocab; c0 += chunk) {
    const int64_t width = std::min(chunk, vocab - c0);
    const T* w = weight + c0 * dim;
    if (tensor)
      linear_ce_logits_tensor(hidden, w, logits, rows, width, dim, s);
    else
      gemm<false>(hidden, dim, 1, w, 1, dim, logits, width, rows, width, dim, s);
    logits_to_grad<<<grid_for(rows * width, kThreads, s), kThreads, 0, s.stream>>>(
        logits, rows, width, c0, p.lse, scale, p.targets, vocab);
    if (tensor) {
      cast_from_f32<bf16>
          <<<grid_for(rows * width, kThreads, s), kThreads, 0, s.stream>>>(logits, dz16, rows * width);
      linear_ce_grads_tensor(dz16, hidden, w, grad_hidden_f32,
                             bp.grad_weight ? static_cast<T*>(bp.grad_weight) + c0 * dim : nullptr, rows,
                             width, dim, s);
      continue;
    }
    // dHidden[r, :] += sum_j dz[r, j] weight[c0 + j, :]
    if (grad_hidden_f32) gemm<true>(logits, width, 1, w, dim, 1, grad_hidden_f32, dim, rows, dim, width, s);
    // dWeight[c0 + j, :] = sum_r dz[r, j] hidden[r, :]
    if (bp.grad_weight)
      gemm<false>(logits, 1, width, hidden, dim, 1, static_cast<T*>(bp.grad_weight) + c0 * dim, dim, width,
                  dim, rows, s);
  }
  if constexpr (!std::is_same_v<T, float>) {
    if (bp.grad_hidden) {
      cast_from_f32<T><<<grid_for(rows * dim, kThreads, s), kThreads, 0, s.stream>>>(
          grad_hidden_f32, static_cast<T*>(bp.grad_hidden), rows * dim);
      s.scratch->release(grad_hidden_f32, grad_hidden_bytes);
    }
  }
  if (dz16) s.scratch->release(dz16, dz16_bytes);
  s.scratch->release(logits, logits_bytes);
  s.scratch->release(scale, scale_bytes);
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy over given logits (column 0 from `first` when present)

template <class T>
__device__ __forceinline__ float logit_at(const CrossEntropyParams& p, int64_t r, int64_t j) {
  const T* first = static_cast<const T*>(p.first);
  const T* rest = static_cast<const T*>(p.rest);
  if (first) return j == 0 ? to_float(first[r]) : to_float(rest[r * (p.cols - 1) + j - 1]);
  return to_float(rest[r * p.cols + j]);
}

template <class T>
__global__ void ce_forward_kernel(CrossEntropyParams p, KernelErrorRecord* errors) {
  __shared__ float scratch[32];
  const CrossEntropyTargets& t = p.targets;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    float max = -INFINITY;
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x) max = fmaxf(max, logit_at<T>(p, r, j));
    max = block_reduce(max, Max(), -INFINITY, scratch);
    float sum_exp = 0.0f, sum_z = 0.0f;
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x) {
      const float z = logit_at<T>(p, r, j);
      sum_exp += expf(z - max);
      sum_z += z;
    }
    sum_exp = block_reduce(sum_exp, Sum(), 0.0f, scratch);
    sum_z = block_reduce(sum_z, Sum(), 0.0f, scratch);
    if (threadIdx.x == 0) {
      if (t.labels) {
        const int32_t y = t.labels[r];
        if (y != t.ignore_index && (y < 0 || y >= p.cols)) report_error(errors, t.error_site, r, y);
      }
      const float l = max + logf(sum_exp);
      p.lse[r] = l;
      const int64_t label = row_label(t, r, p.cols);
      p.row_loss[r] = label < 0 ? 0.0f
                                : l - (1.0f - t.label_smoothing) * logit_at<T>(p, r, label) -
                                      t.label_smoothing / float(p.cols) * sum_z;
    }
  }
}

template <class T>
__global__ void ce_backward_kernel(CrossEntropyBackwardParams bp, const float* __restrict__ scale) {
  const CrossEntropyParams& p = bp.forward;
  const CrossEntropyTargets& t = p.targets;
  T* grad_first = static_cast<T*>(bp.grad_first);
  T* grad_rest = static_cast<T*>(bp.grad_rest);
  const float uniform = t.label_smoothing / float(p.cols);
  const int64_t offset = grad_first ? 1 : 0, rest_cols = p.cols - offset;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const float s = scale[r], l = p.lse[r];
    const int64_t label = row_label(t, r, p.cols);
    for (int64_t j = threadIdx.x; j < p.cols; j += blockDim.x) {
      float g = s * (expf(logit_at<T>(p, r, j) - l) - uniform);
      if (j == label) g -= s * (1.0f - t.label_smoothing);
      if (j < offset)
        grad_first[r] = from_float<T>(g);
      else
        grad_rest[r * rest_cols + j - offset] = from_float<T>(g);
    }
  }
}

__global__ void loss_reduce_kernel(LossReduceParams p) {
  __shared__ float scratch[32];
  float total = 0.0f, count = 0.0f;
  for (int64_t r = threadIdx.x; r < p.rows; r += blockDim.x) {
    total += p.row_loss[r];
    const int32_t y = p.targets.labels ? p.targets.labels[r] : 0;
    count += y != p.targets.ignore_index ? 1.0f : 0.0f;
  }
  total = block_reduce(total, Sum(), 0.0f, scratch);
  count = block_reduce(count, Sum(), 0.0f, scratch);
  if (threadIdx.x == 0) *p.out = p.reduction == LossReduction::Mean ? total / count : total;
}

// ---------------------------------------------------------------------------------------------
// Scores of items gathered from a table

// One warp per (row, slot): lanes stride over the embedding, then a warp reduction.
template <class T>
__global__ void gather_dot_kernel(GatherDotParams p, KernelErrorRecord* errors) {
  const T* user = static_cast<const T*>(p.user);
  const T* table = static_cast<const T*>(p.table);
  T* out = static_cast<T*>(p.out);
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  const int64_t n = p.rows * p.per_row;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; i < n; i += warps) {
    const int32_t item = p.indices[i];
    float acc = 0.0f;
    if (item >= 0 && item < p.items) {
      const T* u = user + (i / p.per_row) * p.dim;
      const T* row = table + int64_t(item) * p.dim;
      for (int64_t c = lane; c < p.dim; c += 32) acc += to_float(u[c]) * to_float(row[c]);
    } else if (lane == 0) {
      report_error(errors, p.error_site, i, item);
    }
    acc = warp_reduce(acc, Sum());
    if (lane == 0) out[i] = from_float<T>(acc);
  }
}

// The backward may run on indices whose forward failed (backward before the loss is read): an
// index out of range is skipped and reported again, never read.
template <class T>
__global__ void gather_dot_grad_user(GatherDotBackwardParams bp, KernelErrorRecord* errors) {
  const GatherDotParams& p = bp.forward;
  const T* table = static_cast<const T*>(p.table);
  const T* g = static_cast<const T*>(bp.grad_out);
  T* grad_user = static_cast<T*>(bp.grad_user);
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x)
    for (int64_t c = threadIdx.x; c < p.dim; c += blockDim.x) {
      float acc = 0.0f;
      for (int64_t j = 0; j < p.per_row; ++j) {
        const int32_t item = p.indices[r * p.per_row + j];
        if (item >= 0 && item < p.items)
          acc += to_float(g[r * p.per_row + j]) * to_float(table[int64_t(item) * p.dim + c]);
        else if (c == 0)
          report_error(errors, p.error_site, r * p.per_row + j, item);
      }
      grad_user[r * p.dim + c] = from_float<T>(acc);
    }
}

// Sort keys: the item, or `items` for an index out of range (it sorts last and is never owned).
__global__ void gather_sort_inputs(const int32_t* __restrict__ indices, int64_t n, int64_t items,
                                   int32_t* __restrict__ keys, int64_t* __restrict__ positions,
                                   int error_site, KernelErrorRecord* errors) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t item = indices[i];
    keys[i] = (item >= 0 && item < items) ? item : int32_t(items);
    if (keys[i] == int32_t(items)) report_error(errors, error_site, i, item);
    positions[i] = i;
  }
}

__device__ __forceinline__ int64_t lower_bound(const int32_t* keys, int64_t n, int64_t value) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (keys[mid] < value)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// The reference variant of the table gradient: one block per item, untouched items included; its
// contributions are a contiguous run of the stably sorted positions.
template <class T>
__global__ void gather_dot_grad_table(GatherDotBackwardParams bp, const int32_t* __restrict__ sorted_keys,
                                      const int64_t* __restrict__ sorted_positions) {
  const GatherDotParams& p = bp.forward;
  const T* user = static_cast<const T*>(p.user);
  const T* g = static_cast<const T*>(bp.grad_out);
  T* grad_table = static_cast<T*>(bp.grad_table);
  const int64_t n = p.rows * p.per_row;
  for (int64_t item = blockIdx.x; item < p.items; item += gridDim.x) {
    const int64_t begin = lower_bound(sorted_keys, n, item), end = lower_bound(sorted_keys, n, item + 1);
    for (int64_t c = threadIdx.x; c < p.dim; c += blockDim.x) {
      float acc = 0.0f;
      for (int64_t s = begin; s < end; ++s) {
        const int64_t pos = sorted_positions[s];
        acc += to_float(g[pos]) * to_float(user[(pos / p.per_row) * p.dim + c]);
      }
      grad_table[item * p.dim + c] = from_float<T>(acc);
    }
  }
}

template <class T>
void gather_dot_backward_typed(const GatherDotBackwardParams& bp, const CudaStream& s) {
  const GatherDotParams& p = bp.forward;
  if (bp.grad_user && p.rows > 0)
    gather_dot_grad_user<T><<<row_grid(p.rows, s), 128, 0, s.stream>>>(bp, s.errors);
  if (!bp.grad_table || p.items == 0) return;
  const int64_t n = p.rows * p.per_row;
  int end_bit = 1;
  while ((int64_t(1) << end_bit) <= p.items) ++end_bit;  // keys go up to `items` (the sentinel)
  const size_t key_bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(int32_t);
  const size_t position_bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(int64_t);
  int32_t* keys_in = static_cast<int32_t*>(s.scratch->allocate(key_bytes));
  int32_t* keys_out = static_cast<int32_t*>(s.scratch->allocate(key_bytes));
  int64_t* positions_in = static_cast<int64_t*>(s.scratch->allocate(position_bytes));
  int64_t* positions_out = static_cast<int64_t*>(s.scratch->allocate(position_bytes));
  size_t temp_bytes = 0;
  void* temp = nullptr;
  if (n > 0) {
    gather_sort_inputs<<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(
        p.indices, n, p.items, keys_in, positions_in, p.error_site, s.errors);
    cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, positions_in, positions_out, n, 0,
                                    end_bit, s.stream);
    temp = s.scratch->allocate(std::max<size_t>(temp_bytes, 1));
    cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, positions_in, positions_out, n, 0,
                                    end_bit, s.stream);
  }
  if (kernel_variant("gather_dot") == "reference")
    gather_dot_grad_table<T><<<row_grid(p.items, s), 128, 0, s.stream>>>(bp, keys_out, positions_out);
  else
    gather_dot_grad_table_segments(bp, keys_out, positions_out, s);  // cuda/gather_dot_grad.cu
  if (temp) s.scratch->release(temp, std::max<size_t>(temp_bytes, 1));
  s.scratch->release(positions_out, position_bytes);
  s.scratch->release(positions_in, position_bytes);
  s.scratch->release(keys_out, key_bytes);
  s.scratch->release(keys_in, key_bytes);
}

// ---------------------------------------------------------------------------------------------
// BCE with logits

template <class T>
__global__ void bce_forward_kernel(BceParams p) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.target);
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float xv = to_float(x[i]);
    const float loss = fmaxf(xv, 0.0f) - xv * to_float(y[i]) + log1pf(expf(-fabsf(xv)));
    out[i] = from_float<T>(w ? loss * to_float(w[i]) : loss);
  }
}

template <class T>
__global__ void bce_backward_kernel(BceBackwardParams bp) {
  const BceParams& p = bp.forward;
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.target);
  const T* w = static_cast<const T*>(p.weight);
  const T* g = static_cast<const T*>(bp.grad_out);
  T* dx = static_cast<T*>(bp.grad_x);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < p.numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float sig = 1.0f / (1.0f + expf(-to_float(x[i])));
    const float d = to_float(g[i]) * (sig - to_float(y[i]));
    dx[i] = from_float<T>(w ? d * to_float(w[i]) : d);
  }
}

}  // namespace

void gather_dot(const GatherDotParams& p, const CudaStream& s) {
  const int64_t n = p.rows * p.per_row;
  if (n == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    gather_dot_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<grid_for(n * 32, kThreads, s), kThreads, 0, s.stream>>>(p, s.errors);
  });
}

void gather_dot_backward(const GatherDotBackwardParams& p, const CudaStream& s) {
  visit_floating(p.forward.dtype,
                 [&](auto* tag) { gather_dot_backward_typed<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void linear_cross_entropy(const LinearCrossEntropyParams& p, const CudaStream& s) {
  if (p.rows == 0) return;
  visit_floating(p.dtype, [&](auto* tag) { linear_ce_forward<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void linear_cross_entropy_backward(const LinearCrossEntropyBackwardParams& p, const CudaStream& s) {
  if (p.forward.rows == 0) return;
  visit_floating(p.forward.dtype,
                 [&](auto* tag) { linear_ce_backward<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void cross_entropy(const CrossEntropyParams& p, const CudaStream& s) {
  if (p.rows == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    ce_forward_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<row_grid(p.rows, s), kThreads, 0, s.stream>>>(p, s.errors);
  });
}

void cross_entropy_backward(const CrossEntropyBackwardParams& p, const CudaStream& s) {
  const int64_t rows = p.forward.rows;
  if (rows == 0) return;
  const size_t scale_bytes = size_t(rows) * sizeof(float);
  float* scale = static_cast<float*>(s.scratch->allocate(scale_bytes));
  row_scales<<<1, 1024, 0, s.stream>>>(p.forward.targets, rows, p.forward.cols, p.reduction, p.grad_loss,
                                       scale);
  visit_floating(p.forward.dtype, [&](auto* tag) {
    ce_backward_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<row_grid(rows, s), kThreads, 0, s.stream>>>(p, scale);
  });
  s.scratch->release(scale, scale_bytes);
}

void loss_reduce(const LossReduceParams& p, const CudaStream& s) {
  loss_reduce_kernel<<<1, 1024, 0, s.stream>>>(p);
}

void bce_with_logits(const BceParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    bce_forward_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(p);
  });
}

void bce_with_logits_backward(const BceBackwardParams& p, const CudaStream& s) {
  if (p.forward.numel == 0) return;
  visit_floating(p.forward.dtype, [&](auto* tag) {
    bce_backward_kernel<std::remove_pointer_t<decltype(tag)>>
        <<<grid_for(p.forward.numel, kThreads, s), kThreads, 0, s.stream>>>(p);
  });
}

}  // namespace llmrec::kernels::cuda

// CUDA twin of native/cpu/norm.cc.
//
// Forward: one block per row (grid-stride over rows); the row is read three times (sum and
// mean, centred variance, output), which stays in L1/L2 for the hidden sizes we see (<= 8k).
// Backward: each block owns a contiguous range of rows and accumulates its weight/bias partials
// in a private slice of a scratch buffer (each column owned by one thread, so no races and no
// atomics); a second kernel sums the slices in block order, which keeps dweight deterministic.
#include <algorithm>

#include "../native/kernels/norm.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void norm_forward_kernel(NormForwardParams p) {
  __shared__ float scratch[32];
  const T* x = static_cast<const T*>(p.x);
  const T* residual = static_cast<const T*>(p.residual);
  const T* weight = static_cast<const T*>(p.weight);
  const T* bias = static_cast<const T*>(p.bias);
  T* out = static_cast<T*>(p.out);
  T* sum = static_cast<T*>(p.sum);
  const int64_t cols = p.cols;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    // The source of v for the later passes: the stored sum (rounded like the CPU twin) or x.
    const T* vr = residual ? sum + r * cols : xr;
    float acc = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      float v;
      if (residual) {
        const T s = from_float<T>(to_float(xr[i]) + to_float(residual[r * cols + i]));
        sum[r * cols + i] = s;  // re-read below by this same thread only
        v = to_float(s);
      } else {
        v = to_float(xr[i]);
      }
      acc += v;
    }
    float mean = 0.0f;
    if (!p.rms) mean = block_reduce(acc, Sum(), 0.0f, scratch) / float(cols);
    float sq = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      const float c = to_float(vr[i]) - mean;
      sq += c * c;
    }
    sq = block_reduce(sq, Sum(), 0.0f, scratch);
    const float rstd = rsqrtf(sq / float(cols) + p.eps);
    if (threadIdx.x == 0) {
      if (p.mean) p.mean[r] = mean;
      p.rstd[r] = rstd;
    }
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      const float b = bias ? to_float(bias[i]) : 0.0f;
      out[r * cols + i] = from_float<T>((to_float(vr[i]) - mean) * rstd * to_float(weight[i]) + b);
    }
  }
}

// Block b handles rows [b * rows_per_block, ...) and writes its partials to
// partial[b * 2 * cols ...]: dweight partials then dbias partials.
template <class T>
__global__ void norm_backward_kernel(NormBackwardParams p, int64_t rows_per_block, float* partial) {
  __shared__ float scratch[32];
  const T* dy = static_cast<const T*>(p.grad_out);
  const T* dsum = static_cast<const T*>(p.grad_sum);
  const T* input = static_cast<const T*>(p.input);
  const T* weight = static_cast<const T*>(p.weight);
  T* dx = static_cast<T*>(p.grad_input);
  const int64_t cols = p.cols;
  float* pw = partial + int64_t(blockIdx.x) * 2 * cols;
  float* pb = pw + cols;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    pw[i] = 0.0f;
    pb[i] = 0.0f;
  }
  const int64_t r0 = int64_t(blockIdx.x) * rows_per_block;
  const int64_t r1 = min(p.rows, r0 + rows_per_block);
  for (int64_t r = r0; r < r1; ++r) {
    const float mean = p.mean ? p.mean[r] : 0.0f;
    const float rstd = p.rstd[r];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      const float g = to_float(dy[r * cols + i]) * to_float(weight[i]);
      const float xhat = (to_float(input[r * cols + i]) - mean) * rstd;
      sum_g += g;
      sum_gx += g * xhat;
    }
    const float mean_g = p.rms ? 0.0f : block_reduce(sum_g, Sum(), 0.0f, scratch) / float(cols);
    const float mean_gx = block_reduce(sum_gx, Sum(), 0.0f, scratch) / float(cols);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      const float d = to_float(dy[r * cols + i]);
      const float g = d * to_float(weight[i]);
      const float xhat = (to_float(input[r * cols + i]) - mean) * rstd;
      float v = rstd * (g - mean_g - xhat * mean_gx);
      if (dsum) v += to_float(dsum[r * cols + i]);
      dx[r * cols + i] = from_float<T>(v);
      pw[i] += d * xhat;  // column i belongs to this thread for the whole kernel
      pb[i] += d;
    }
  }
}

template <class T>
__global__ void norm_param_grad_kernel(const float* partial, int64_t blocks, int64_t cols, T* dw, T* db) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < cols;
       i += int64_t(gridDim.x) * blockDim.x) {
    float tw = 0.0f, tb = 0.0f;
    for (int64_t b = 0; b < blocks; ++b) {
      tw += partial[b * 2 * cols + i];
      tb += partial[b * 2 * cols + cols + i];
    }
    dw[i] = from_float<T>(tw);
    if (db) db[i] = from_float<T>(tb);
  }
}

}  // namespace

void norm_forward(const NormForwardParams& p, const CudaStream& s) {
  if (p.rows == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      const unsigned grid = unsigned(std::min<int64_t>(p.rows, int64_t(std::max(s.multiprocessors, 1)) * 32));
      norm_forward_kernel<T><<<grid, kThreads, 0, s.stream>>>(p);
    }
  });
}

void norm_backward(const NormBackwardParams& p, const CudaStream& s) {
  if (p.rows == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      const int64_t target = int64_t(std::max(s.multiprocessors, 1)) * 4;
      const int64_t rows_per_block = std::max<int64_t>(1, (p.rows + target - 1) / target);
      const int64_t blocks = (p.rows + rows_per_block - 1) / rows_per_block;
      const size_t bytes = size_t(blocks * 2 * p.cols) * sizeof(float);
      float* partial = static_cast<float*>(s.scratch->allocate(bytes));
      norm_backward_kernel<T><<<unsigned(blocks), kThreads, 0, s.stream>>>(p, rows_per_block, partial);
      norm_param_grad_kernel<T><<<grid_for(p.cols, kThreads, s), kThreads, 0, s.stream>>>(
          partial, blocks, p.cols, static_cast<T*>(p.grad_weight), static_cast<T*>(p.grad_bias));
      s.scratch->release(partial, bytes);
    }
  });
}

}  // namespace llmrec::kernels::cuda

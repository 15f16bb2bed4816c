// CUDA twin of native/cpu/softmax.cc: one block per row (grid-stride over rows), three passes
// over the row (max, sum of exponentials, output), which L1/L2 serve for vocabulary-sized rows.
#include <algorithm>

#include "../native/kernels/softmax.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void softmax_forward_kernel(SoftmaxParams p) {
  __shared__ float scratch[32];
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t cols = p.cols;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    float max = -INFINITY;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) max = fmaxf(max, to_float(xr[i]));
    max = block_reduce(max, Max(), -INFINITY, scratch);
    if (max == -INFINITY) max = 0.0f;  // as on the CPU: a fully masked row gives zeros, not NaN
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) sum += expf(to_float(xr[i]) - max);
    sum = block_reduce(sum, Sum(), 0.0f, scratch);
    T* orow = out + r * cols;
    if (p.log) {
      const float shift = max + logf(sum);
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        orow[i] = from_float<T>(to_float(xr[i]) - shift);
    } else {
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        orow[i] = from_float<T>(expf(to_float(xr[i]) - max) * inv);
    }
  }
}

template <class T>
__global__ void softmax_backward_kernel(SoftmaxBackwardParams p) {
  __shared__ float scratch[32];
  const T* dy = static_cast<const T*>(p.grad_out);
  const T* y = static_cast<const T*>(p.out);
  T* dx = static_cast<T*>(p.grad_input);
  const int64_t cols = p.cols;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T* dr = dy + r * cols;
    const T* yr = y + r * cols;
    float acc = 0.0f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
      acc += p.log ? to_float(dr[i]) : to_float(dr[i]) * to_float(yr[i]);
    acc = block_reduce(acc, Sum(), 0.0f, scratch);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
      const float d = to_float(dr[i]), v = to_float(yr[i]);
      dx[r * cols + i] = from_float<T>(p.log ? d - expf(v) * acc : v * (d - acc));
    }
  }
}

unsigned row_grid(int64_t rows, const CudaStream& s) {
  return unsigned(std::min<int64_t>(rows, int64_t(std::max(s.multiprocessors, 1)) * 32));
}

}  // namespace

void softmax_forward(const SoftmaxParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>)
      softmax_forward_kernel<T><<<row_grid(p.rows, s), kThreads, 0, s.stream>>>(p);
  });
}

void softmax_backward(const SoftmaxBackwardParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>)
      softmax_backward_kernel<T><<<row_grid(p.rows, s), kThreads, 0, s.stream>>>(p);
  });
}

}  // namespace llmrec::kernels::cuda

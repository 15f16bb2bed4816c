// CUDA twin of native/cpu/optim.cc.
//
// The Adam step is one memory-bound pass (read w, g, m, v; write w, m, v). The squared norm is a
// two-pass reduction with a fixed number of elements per block, so the partials and their sum
// come out the same on every run.
#include <algorithm>
#include <type_traits>

#include "../native/kernels/optim.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;
constexpr int64_t kNormChunk = 8192;  // elements per block in the first pass

template <class T>
__global__ void adam_kernel(T* __restrict__ param, const T* __restrict__ grad, float* __restrict__ master,
                            float* __restrict__ m, float* __restrict__ v,
                            const float* __restrict__ grad_scale, int64_t n, float beta1, float beta2,
                            float eps, float step, float inv_sqrt_bc2, float decay, float l2) {
  const float scale = grad_scale ? *grad_scale : 1.0f;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float w = master ? master[i] : to_float(param[i]);
    const float g = to_float(grad[i]) * scale + l2 * w;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    w = w * decay - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    if (master) master[i] = w;
    param[i] = from_float<T>(w);
  }
}

template <class T>
__global__ void squared_norm_partials(const T* __restrict__ x, int64_t n, float* __restrict__ partial) {
  __shared__ float scratch[32];
  const int64_t begin = int64_t(blockIdx.x) * kNormChunk;
  const int64_t end = min(n, begin + kNormChunk);
  float acc = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float value = to_float(x[i]);
    acc += value * value;
  }
  acc = block_reduce(
      acc, [](float a, float b) { return a + b; }, 0.0f, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_partials(const float* __restrict__ partial, int64_t count, float* __restrict__ out) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_reduce(
      acc, [](float a, float b) { return a + b; }, 0.0f, scratch);
  if (threadIdx.x == 0) *out = acc;
}

}  // namespace

void adam_step(const AdamParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  const float step = p.lr / p.bias_correction1;
  const float inv_sqrt_bc2 = 1.0f / sqrtf(p.bias_correction2);
  const float decay = p.decoupled ? 1.0f - p.lr * p.weight_decay : 1.0f;
  const float l2 = p.decoupled ? 0.0f : p.weight_decay;
  visit_dtype(p.param_dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      adam_kernel<T><<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(
          static_cast<T*>(p.param), static_cast<const T*>(p.grad), p.master, p.exp_avg, p.exp_avg_sq,
          p.grad_scale, p.numel, p.beta1, p.beta2, p.eps, step, inv_sqrt_bc2, decay, l2);
    }
  });
}

void squared_norm(const SquaredNormParams& p, const CudaStream& s) {
  const int64_t blocks = std::max<int64_t>(1, (p.numel + kNormChunk - 1) / kNormChunk);
  const size_t partial_bytes = size_t(blocks) * sizeof(float);
  float* partial = static_cast<float*>(s.scratch->allocate(partial_bytes));
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      squared_norm_partials<T>
          <<<unsigned(blocks), kThreads, 0, s.stream>>>(static_cast<const T*>(p.x), p.numel, partial);
    }
  });
  sum_partials<<<1, 1024, 0, s.stream>>>(partial, blocks, p.out);
  s.scratch->release(partial, partial_bytes);  // stream-ordered: safe once queued
}

}  // namespace llmrec::kernels::cuda

// CUDA twin of native/cpu/activation.cc: grid-stride elementwise kernels. The math is shared
// with the CPU twin through native/kernels/activation.h; dropout draws the same Philox bits.
#include "../native/kernels/activation.h"
#include "../native/kernels/philox.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;
namespace math = activation_math;

namespace {

constexpr int kThreads = 256;

template <ActivationOp OP, class T>
__global__ void activation_forward_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, int64_t h,
                                          float slope) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (OP == ActivationOp::SwiGLU) {
      const int64_t r = i / h, j = i - r * h;
      out[i] = from_float<T>(math::forward<OP>(to_float(x[r * 2 * h + j]), slope) *
                             to_float(x[r * 2 * h + h + j]));
    } else {
      out[i] = from_float<T>(math::forward<OP>(to_float(x[i]), slope));
    }
  }
}

template <ActivationOp OP, class T>
__global__ void activation_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                           T* __restrict__ dx, int64_t n, int64_t h, float slope) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = to_float(dy[i]);
    if constexpr (OP == ActivationOp::SwiGLU) {
      const int64_t r = i / h, j = i - r * h;
      const float gate = to_float(x[r * 2 * h + j]), up = to_float(x[r * 2 * h + h + j]);
      dx[r * 2 * h + j] = from_float<T>(g * up * math::derivative<OP>(gate, slope));
      dx[r * 2 * h + h + j] = from_float<T>(g * math::forward<OP>(gate, slope));
    } else {
      dx[i] = from_float<T>(g * math::derivative<OP>(to_float(x[i]), slope));
    }
  }
}

template <class T>
__global__ void dropout_kernel(const T* __restrict__ x, T* __restrict__ out, DropoutParams p) {
  const float scale = 1.0f / (1.0f - p.p);
  const int64_t counters = (p.numel + 3) / 4;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < counters;
       c += int64_t(gridDim.x) * blockDim.x) {
    const philox::Bits4 bits = philox::generate(p.seed, p.offset + uint64_t(c));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t i = c * 4 + k;
      if (i < p.numel) {
        const bool keep = philox::uniform01(philox::lane(bits, k)) >= p.p;
        out[i] = from_float<T>(keep ? to_float(x[i]) * scale : 0.0f);
      }
    }
  }
}

// Calls launch(op constant, dtype tag, n) for the op and floating dtype of `a`, with n the
// elements (or SwiGLU pairs) to compute, unless there are none.
template <class Launch>
void for_each_activation_launch(const ActivationShape& a, Launch&& launch) {
  const int64_t n = a.op == ActivationOp::SwiGLU ? a.numel / 2 : a.numel;
  if (n == 0) return;
  visit_floating(a.dtype, [&](auto* tag) { visit_activation(a.op, [&](auto op) { launch(op, tag, n); }); });
}

}  // namespace

void activation_forward(const ActivationParams& p, const CudaStream& s) {
  for_each_activation_launch(p, [&](auto op, auto* tag, int64_t n) {
    using T = std::remove_pointer_t<decltype(tag)>;
    activation_forward_kernel<decltype(op)::value, T><<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(
        static_cast<const T*>(p.x), static_cast<T*>(p.out), n, p.half, p.slope);
  });
}

void activation_backward(const ActivationBackwardParams& p, const CudaStream& s) {
  for_each_activation_launch(p, [&](auto op, auto* tag, int64_t n) {
    using T = std::remove_pointer_t<decltype(tag)>;
    activation_backward_kernel<decltype(op)::value, T><<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(
        static_cast<const T*>(p.grad_out), static_cast<const T*>(p.x), static_cast<T*>(p.grad_input), n,
        p.half, p.slope);
  });
}

void dropout(const DropoutParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>)
      dropout_kernel<T><<<grid_for((p.numel + 3) / 4, kThreads, s), kThreads, 0, s.stream>>>(
          static_cast<const T*>(p.x), static_cast<T*>(p.out), p);
  });
}

}  // namespace llmrec::kernels::cuda

// CPU twin of cuda/optim.cu.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../kernels/optim.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kGrain = 1 << 14;

template <class T>
void adam_typed(const AdamParams& p) {
  T* __restrict__ param = static_cast<T*>(p.param);
  const T* __restrict__ grad = static_cast<const T*>(p.grad);
  float* __restrict__ master = p.master;
  float* __restrict__ m = p.exp_avg;
  float* __restrict__ v = p.exp_avg_sq;
  const float scale = p.grad_scale ? *p.grad_scale : 1.0f;
  const float step = p.lr / p.bias_correction1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(p.bias_correction2);
  const float decay = p.decoupled ? 1.0f - p.lr * p.weight_decay : 1.0f;
  const float l2 = p.decoupled ? 0.0f : p.weight_decay;
  parallel_for(0, p.numel, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float w = master ? master[i] : to_float(param[i]);
      const float g = to_float(grad[i]) * scale + l2 * w;
      const float mi = p.beta1 * m[i] + (1.0f - p.beta1) * g;
      const float vi = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      w = w * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + p.eps);
      if (master) master[i] = w;
      param[i] = from_float<T>(w);
    }
  });
}

template <class T>
void squared_norm_typed(const SquaredNormParams& p) {
  const T* __restrict__ x = static_cast<const T*>(p.x);
  // Fixed blocks combined in order: the result does not depend on the thread count.
  const int64_t blocks = llmrec::cpu::fixed_block_count(p.numel, kGrain);
  std::vector<double> partial(size_t(blocks), 0.0);
  parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kGrain, end = std::min(p.numel, begin + kGrain);
      partial[size_t(b)] = lane_sum(end - begin, [&](int64_t i) {
        const float value = to_float(x[begin + i]);
        return value * value;
      });
    }
  });
  double total = 0.0;
  for (double value : partial) total += value;
  *p.out = float(total);
}

}  // namespace

void adam_step(const AdamParams& p) {
  visit_floating(p.param_dtype, [&](auto* tag) { adam_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

void squared_norm(const SquaredNormParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { squared_norm_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

}  // namespace llmrec::kernels::cpu

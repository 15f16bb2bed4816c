// CPU twin of cuda/optim.cu.
#include <cmath>
#include <vector>

#include "../kernels/optim.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using llmrec::cpu::bf16;
using llmrec::cpu::from_float;
using llmrec::cpu::parallel_for;
using llmrec::cpu::to_float;

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
      // Eight f32 lanes vectorise; each lane's run is short enough that f32 keeps ~1e-7 relative.
      float lanes[8] = {};
      int64_t i = begin;
      for (; i + 8 <= end; i += 8)
        for (int l = 0; l < 8; ++l) {
          const float value = to_float(x[i + l]);
          lanes[l] += value * value;
        }
      double sum = 0.0;
      for (int l = 0; l < 8; ++l) sum += lanes[l];
      for (; i < end; ++i) sum += double(to_float(x[i])) * to_float(x[i]);
      partial[size_t(b)] = sum;
    }
  });
  double total = 0.0;
  for (double value : partial) total += value;
  *p.out = float(total);
}

}  // namespace

void adam_step(const AdamParams& p) {
  if (p.param_dtype == DType::BF16)
    adam_typed<bf16>(p);
  else
    adam_typed<float>(p);
}

void squared_norm(const SquaredNormParams& p) {
  if (p.dtype == DType::BF16)
    squared_norm_typed<bf16>(p);
  else
    squared_norm_typed<float>(p);
}

}  // namespace llmrec::kernels::cpu

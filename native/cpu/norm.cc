// CPU twin of cuda/norm.cu. Each row is converted to f32 once, its statistics are summed in f32
// lanes (vectorised) and combined in f64, and the weight gradients go through fixed row blocks so
// that the result does not depend on the thread count.
#include "../kernels/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kRowBlock = 32;  // rows per weight-gradient partial

template <class T>
void load_row(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_float(src[i]);
}

template <class T>
void forward_typed(const NormForwardParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* residual = static_cast<const T*>(p.residual);
  const T* weight = static_cast<const T*>(p.weight);
  const T* bias = static_cast<const T*>(p.bias);
  T* out = static_cast<T*>(p.out);
  T* sum = static_cast<T*>(p.sum);
  const int64_t cols = p.cols;
  std::vector<float> w(static_cast<size_t>(cols)), b(static_cast<size_t>(cols), 0.0f);
  load_row(weight, w.data(), cols);
  if (bias) load_row(bias, b.data(), cols);
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1));
  parallel_for(0, p.rows, grain, [&](int64_t lo, int64_t hi) {
    std::vector<float> v(static_cast<size_t>(cols));
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * cols;
      if (residual) {
        const T* rr = residual + r * cols;
        T* sr = sum + r * cols;
        for (int64_t i = 0; i < cols; ++i) {
          sr[i] = from_float<T>(to_float(xr[i]) + to_float(rr[i]));
          v[size_t(i)] = to_float(sr[i]);
        }
      } else {
        load_row(xr, v.data(), cols);
      }
      const float* vr = v.data();
      float mean = 0.0f;
      if (!p.rms) mean = float(lane_sum(cols, [&](int64_t i) { return vr[i]; }) / double(cols));
      const double sq = lane_sum(cols, [&](int64_t i) {
        const float c = vr[i] - mean;
        return c * c;
      });
      const float rstd = float(1.0 / std::sqrt(sq / double(cols) + double(p.eps)));
      if (p.mean) p.mean[r] = mean;
      p.rstd[r] = rstd;
      T* orow = out + r * cols;
      const float* wr = w.data();
      const float* br = b.data();
      for (int64_t i = 0; i < cols; ++i) orow[i] = from_float<T>((vr[i] - mean) * rstd * wr[i] + br[i]);
    }
  });
}

template <class T>
void backward_typed(const NormBackwardParams& p) {
  const T* dy = static_cast<const T*>(p.grad_out);
  const T* dsum = static_cast<const T*>(p.grad_sum);
  const T* input = static_cast<const T*>(p.input);
  const T* weight = static_cast<const T*>(p.weight);
  T* dx = static_cast<T*>(p.grad_input);
  const int64_t rows = p.rows, cols = p.cols;
  std::vector<float> w(static_cast<size_t>(cols));
  load_row(weight, w.data(), cols);
  const int64_t blocks = llmrec::cpu::fixed_block_count(rows, kRowBlock);
  // Per block: cols partial sums of dy * xhat, then cols of dy.
  std::vector<float> partial(size_t(blocks * cols * 2));
  parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> g(static_cast<size_t>(cols)), xhat(static_cast<size_t>(cols)),
        dyr(static_cast<size_t>(cols));
    for (int64_t block = lo; block < hi; ++block) {
      float* pw = partial.data() + block * cols * 2;
      float* pb = pw + cols;
      std::fill(pw, pw + 2 * cols, 0.0f);
      const int64_t r1 = std::min(rows, (block + 1) * kRowBlock);
      for (int64_t r = block * kRowBlock; r < r1; ++r) {
        const T* vr = input + r * cols;
        const T* dr = dy + r * cols;
        const float mean = p.mean ? p.mean[r] : 0.0f;
        const float rstd = p.rstd[r];
        for (int64_t i = 0; i < cols; ++i) {
          dyr[size_t(i)] = to_float(dr[i]);
          xhat[size_t(i)] = (to_float(vr[i]) - mean) * rstd;
          g[size_t(i)] = dyr[size_t(i)] * w[size_t(i)];
        }
        const float* gp = g.data();
        const float* xp = xhat.data();
        const float* dp = dyr.data();
        const float mean_g =
            p.rms ? 0.0f : float(lane_sum(cols, [&](int64_t i) { return gp[i]; }) / double(cols));
        const float mean_gx = float(lane_sum(cols, [&](int64_t i) { return gp[i] * xp[i]; }) / double(cols));
        T* dxr = dx + r * cols;
        if (dsum) {
          const T* sr = dsum + r * cols;
          for (int64_t i = 0; i < cols; ++i)
            dxr[i] = from_float<T>(rstd * (gp[i] - mean_g - xp[i] * mean_gx) + to_float(sr[i]));
        } else {
          for (int64_t i = 0; i < cols; ++i)
            dxr[i] = from_float<T>(rstd * (gp[i] - mean_g - xp[i] * mean_gx));
        }
        for (int64_t i = 0; i < cols; ++i) {
          pw[i] += dp[i] * xp[i];
          pb[i] += dp[i];
        }
      }
    }
  });
  T* dw = static_cast<T*>(p.grad_weight);
  T* db = static_cast<T*>(p.grad_bias);
  parallel_for(0, cols, 256, [&](int64_t lo, int64_t hi) {
    std::vector<double> tw(size_t(hi - lo), 0.0), tb(size_t(hi - lo), 0.0);
    for (int64_t block = 0; block < blocks; ++block) {
      const float* pw = partial.data() + block * cols * 2;
      const float* pb = pw + cols;
      for (int64_t i = lo; i < hi; ++i) {
        tw[size_t(i - lo)] += pw[i];
        tb[size_t(i - lo)] += pb[i];
      }
    }
    for (int64_t i = lo; i < hi; ++i) {
      dw[i] = from_float<T>(float(tw[size_t(i - lo)]));
      if (db) db[i] = from_float<T>(float(tb[size_t(i - lo)]));
    }
  });
}

}  // namespace

void norm_forward(const NormForwardParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    forward_typed<T>(p);
  });
}

void norm_backward(const NormBackwardParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    backward_typed<T>(p);
  });
}

}  // namespace llmrec::kernels::cpu

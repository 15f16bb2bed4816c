// Lets GCC if-convert the selects in fast_math (the activations) and vectorise the loops that call
// it; results do not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/mlp_distill.cu. Row passes run rows in parallel and sum within a row in f32
// lanes combined in f64; every reduction over rows (bias and LayerNorm gradients, the loss) goes
// through fixed row blocks or a fixed row order, so results do not depend on the thread count.
// The activation is a template parameter so that the element loops vectorise.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/mlp_distill.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

template <class T>
std::vector<float> load_vector(const void* src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), 0.0f);
  if (src == nullptr) return out;
  const T* s = static_cast<const T*>(src);
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = to_float(s[i]);
  return out;
}

// Calls fn with std::integral_constant<DistillActivation, A>, so A is a compile-time constant.
template <class Fn>
void visit_activation(DistillActivation act, Fn&& fn) {
  switch (act) {
    case DistillActivation::Gelu:
      fn(std::integral_constant<DistillActivation, DistillActivation::Gelu>{});
      break;
    case DistillActivation::LeakyRelu:
      fn(std::integral_constant<DistillActivation, DistillActivation::LeakyRelu>{});
      break;
    case DistillActivation::Sigmoid:
      fn(std::integral_constant<DistillActivation, DistillActivation::Sigmoid>{});
      break;
    case DistillActivation::Relu:
      fn(std::integral_constant<DistillActivation, DistillActivation::Relu>{});
      break;
  }
}

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

template <class T, DistillActivation ACT>
void hidden_forward_typed(const DistillHiddenParams& p) {
  const int64_t cols = p.cols;
  const bool ln = p.ln_weight != nullptr;
  const std::vector<float> bias = load_vector<T>(p.bias, cols);
  const std::vector<float> gamma = load_vector<T>(p.ln_weight, cols);
  const std::vector<float> beta = load_vector<T>(p.ln_bias, cols);
  T* hidden = static_cast<T*>(p.hidden);
  const float slope = p.slope;
  parallel_for(0, p.rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    std::vector<float> u(static_cast<size_t>(cols));
    for (int64_t r = lo; r < hi; ++r) {
      float* pre = p.pre + r * cols;
      for (int64_t j = 0; j < cols; ++j) pre[j] += bias[size_t(j)];
      if (ln) {
        const float meanf = float(lane_sum(cols, [&](int64_t j) { return pre[j]; }) / double(cols));
        const double sq = lane_sum(cols, [&](int64_t j) { return (pre[j] - meanf) * (pre[j] - meanf); });
        const float rstd = float(1.0 / std::sqrt(sq / double(cols) + double(p.eps)));
        p.mean[r] = meanf;
        p.rstd[r] = rstd;
        for (int64_t j = 0; j < cols; ++j)
          u[size_t(j)] = (pre[j] - meanf) * rstd * gamma[size_t(j)] + beta[size_t(j)];
      } else {
        for (int64_t j = 0; j < cols; ++j) u[size_t(j)] = pre[j];
      }
      T* out = hidden + r * cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = from_float<T>(distill_activate<ACT>(u[size_t(j)], slope));
    }
  });
}

// One row of the loss: y (bias added) in `y`, the teacher in `t`; writes dLoss/dy over y and
// dLoss/dt into `tg` (when set) and returns the row's loss term. `scale` is 1/N of the mean.
float loss_row(DistillLoss loss, float* y, const float* t, float* tg, int64_t cols, double scale) {
  if (loss == DistillLoss::Mse) {
    const double row = lane_sum(cols, [&](int64_t j) { return (y[j] - t[j]) * (y[j] - t[j]); });
    const float g = float(2.0 * scale);
    for (int64_t j = 0; j < cols; ++j) {
      const float d = (y[j] - t[j]) * g;
      y[j] = d;
      if (tg) tg[j] = -d;
    }
    return float(row);
  }
  const double yy = lane_sum(cols, [&](int64_t j) { return y[j] * y[j]; });
  const double tt = lane_sum(cols, [&](int64_t j) { return t[j] * t[j]; });
  const double yt = lane_sum(cols, [&](int64_t j) { return y[j] * t[j]; });
  const double norm_y = std::sqrt(yy), norm_t = std::sqrt(tt);
  if (loss == DistillLoss::Cosine) {
    const double ny = std::max(norm_y, double(kDistillCosineEps));
    const double nt = std::max(norm_t, double(kDistillCosineEps));
    const double cos = yt / (ny * nt);
    // d cos / dy = t / (ny nt) - cos y / ny^2 (the second term vanishes where the norm is clamped).
    const float a_y = float(-scale / (ny * nt));
    const float b_y = norm_y > kDistillCosineEps ? float(scale * cos / (ny * ny)) : 0.0f;
    const float b_t = norm_t > kDistillCosineEps ? float(scale * cos / (nt * nt)) : 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
      const float yj = y[j];
      y[j] = a_y * t[j] + b_y * yj;
      if (tg) tg[j] = a_y * yj + b_t * t[j];
    }
    return float(1.0 - cos);
  }
  // Normalised MSE: yn = y / ny, tn = t / nt, loss terms (yn - tn)^2.
  const double ny = std::max(norm_y, double(kDistillNormalizeEps));
  const double nt = std::max(norm_t, double(kDistillNormalizeEps));
  const float iy = float(1.0 / ny), it = float(1.0 / nt);
  const auto diff = [&](int64_t j) { return y[j] * iy - t[j] * it; };
  const double row = lane_sum(cols, [&](int64_t j) { return diff(j) * diff(j); });
  const double diff_yn = lane_sum(cols, [&](int64_t j) { return diff(j) * y[j] * iy; });
  const double diff_tn = lane_sum(cols, [&](int64_t j) { return diff(j) * t[j] * it; });
  // dL/dyn = 2 scale (yn - tn); dy = (dL/dyn - yn (dL/dyn . yn)) / ny, and the mirror for t.
  const double proj_y = norm_y > kDistillNormalizeEps ? diff_yn : 0.0;
  const double proj_t = norm_t > kDistillNormalizeEps ? diff_tn : 0.0;
  const float g = float(2.0 * scale), py = float(proj_y), pt = float(proj_t);
  for (int64_t j = 0; j < cols; ++j) {
    const float yn = y[j] * iy, tn = t[j] * it, d = yn - tn;
    if (tg) tg[j] = -g * (d - tn * pt) * it;
    y[j] = g * (d - yn * py) * iy;
  }
  return float(row);
}

template <class T>
void loss_typed(const DistillLossParams& p) {
  const int64_t cols = p.cols;
  const std::vector<float> bias = load_vector<T>(p.bias, cols);
  const T* teacher = static_cast<const T*>(p.teacher);
  const double count = p.loss == DistillLoss::Cosine ? double(p.rows) : double(p.rows) * double(cols);
  const double scale = 1.0 / count;
  std::vector<float> row_loss(static_cast<size_t>(p.rows));
  parallel_for(0, p.rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    std::vector<float> t(static_cast<size_t>(cols));
    for (int64_t r = lo; r < hi; ++r) {
      float* y = p.out + r * cols;
      for (int64_t j = 0; j < cols; ++j) y[j] += bias[size_t(j)];
      for (int64_t j = 0; j < cols; ++j) t[size_t(j)] = to_float(teacher[r * cols + j]);
      row_loss[size_t(r)] =
          loss_row(p.loss, y, t.data(), p.teacher_grad ? p.teacher_grad + r * cols : nullptr, cols, scale);
    }
  });
  double total = 0.0;
  for (float v : row_loss) total += v;
  p.loss_value[0] = float(total * scale);
}

template <class T>
void output_grad_typed(const DistillOutputGradParams& p) {
  const int64_t cols = p.cols;
  const float g = p.grad_loss[0];
  T* scaled = static_cast<T*>(p.out_grad_scaled);
  T* teacher_scaled = static_cast<T*>(p.teacher_grad_scaled);
  parallel_for(0, p.rows, row_grain(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo * cols; i < hi * cols; ++i) scaled[i] = from_float<T>(g * p.out_grad[i]);
    if (teacher_scaled)
      for (int64_t i = lo * cols; i < hi * cols; ++i)
        teacher_scaled[i] = from_float<T>(g * p.teacher_grad[i]);
  });
  // db2: each column summed over rows in row order, a strip of columns per task.
  constexpr int64_t kStrip = 64;
  T* bias_grad = static_cast<T*>(p.bias_grad);
  parallel_for(0, fixed_block_count(cols, kStrip), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t strip = lo; strip < hi; ++strip) {
      const int64_t c0 = strip * kStrip, c1 = std::min(cols, c0 + kStrip);
      double acc[kStrip] = {};
      for (int64_t r = 0; r < p.rows; ++r) {
        const float* row = p.out_grad + r * cols;
        for (int64_t j = c0; j < c1; ++j) acc[j - c0] += row[j];
      }
      for (int64_t j = c0; j < c1; ++j) bias_grad[j] = from_float<T>(float(g * acc[j - c0]));
    }
  });
}

template <class T, DistillActivation ACT>
void hidden_backward_typed(const DistillHiddenBackwardParams& p) {
  const int64_t cols = p.cols, rows = p.rows;
  const bool ln = p.ln_weight != nullptr;
  const std::vector<float> gamma = load_vector<T>(p.ln_weight, cols);
  const std::vector<float> beta = load_vector<T>(p.ln_bias, cols);
  const float slope = p.slope;
  const int64_t blocks = fixed_block_count(rows, kDistillRowBlock);
  const int64_t sets = ln ? 3 : 1;  // db1, then dgamma and dbeta
  std::vector<float> partial(static_cast<size_t>(blocks * sets * cols), 0.0f);
  T* grad_pre = static_cast<T*>(p.grad_pre);
  parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> xhat(static_cast<size_t>(cols)), du(static_cast<size_t>(cols));
    for (int64_t block = lo; block < hi; ++block) {
      float* db1 = partial.data() + block * sets * cols;
      float* dgamma = ln ? db1 + cols : nullptr;
      float* dbeta = ln ? db1 + 2 * cols : nullptr;
      for (int64_t r = block * kDistillRowBlock; r < std::min(rows, (block + 1) * kDistillRowBlock); ++r) {
        const float* pre = p.pre + r * cols;
        const float* gh = p.grad_hidden + r * cols;
        T* out = grad_pre + r * cols;
        if (!ln) {
          for (int64_t j = 0; j < cols; ++j) {
            const float d = gh[j] * distill_activation_derivative<ACT>(pre[j], slope);
            db1[j] += d;
            out[j] = from_float<T>(d);
          }
          continue;
        }
        const float mean = p.mean[r], rstd = p.rstd[r];
        for (int64_t j = 0; j < cols; ++j) {
          const float xh = (pre[j] - mean) * rstd;
          const float u = xh * gamma[size_t(j)] + beta[size_t(j)];
          const float d = gh[j] * distill_activation_derivative<ACT>(u, slope);
          xhat[size_t(j)] = xh;
          du[size_t(j)] = d;
          dgamma[j] += d * xh;
          dbeta[j] += d;
        }
        const float m1 =
            float(lane_sum(cols, [&](int64_t j) { return du[size_t(j)] * gamma[size_t(j)]; }) / double(cols));
        const float m2 = float(
            lane_sum(cols, [&](int64_t j) { return du[size_t(j)] * gamma[size_t(j)] * xhat[size_t(j)]; }) /
            double(cols));
        for (int64_t j = 0; j < cols; ++j) {
          const float d = rstd * (du[size_t(j)] * gamma[size_t(j)] - m1 - xhat[size_t(j)] * m2);
          db1[j] += d;
          out[j] = from_float<T>(d);
        }
      }
    }
  });
  T* targets[3] = {static_cast<T*>(p.grad_bias), static_cast<T*>(p.grad_ln_weight),
                   static_cast<T*>(p.grad_ln_bias)};
  parallel_for(0, cols, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t set = 0; set < sets; ++set)
      for (int64_t j = lo; j < hi; ++j) {
        double acc = 0.0;
        for (int64_t block = 0; block < blocks; ++block)
          acc += partial[size_t((block * sets + set) * cols + j)];
        targets[set][j] = from_float<T>(float(acc));
      }
  });
}

}  // namespace

void distill_hidden_forward(const DistillHiddenParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.activation, [&](auto act) { hidden_forward_typed<T, decltype(act)::value>(p); });
  });
}

void distill_loss(const DistillLossParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { loss_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

void distill_output_grad(const DistillOutputGradParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { output_grad_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

void distill_hidden_backward(const DistillHiddenBackwardParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.activation, [&](auto act) { hidden_backward_typed<T, decltype(act)::value>(p); });
  });
}

}  // namespace llmrec::kernels::cpu

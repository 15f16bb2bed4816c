// Lets GCC if-convert the selects in fast_math and vectorise the loops that call it; results do
// not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/softmax.cu: rows in parallel, each converted to f32 once; sums in f32 lanes
// combined in f64.
#include "../kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/fast_math.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

template <class T>
void forward_typed(const SoftmaxParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t cols = p.cols;
  parallel_for(0, p.rows, std::max<int64_t>(1, 8192 / cols), [&](int64_t lo, int64_t hi) {
    std::vector<float> v(static_cast<size_t>(cols));
    float* vr = v.data();
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * cols;
      float max = -INFINITY;
      for (int64_t i = 0; i < cols; ++i) {
        vr[i] = to_float(xr[i]);
        max = std::max(max, vr[i]);
      }
      // A fully masked row (all -inf) has no finite maximum: subtracting 0 keeps exp(-inf) = 0,
      // and the softmax of such a row is all zeros rather than NaN.
      if (max == -INFINITY) max = 0.0f;
      for (int64_t i = 0; i < cols; ++i) vr[i] = fast_math::exp(vr[i] - max);
      const double sum = lane_sum(cols, [&](int64_t i) { return vr[i]; });
      T* orow = out + r * cols;
      if (p.log) {
        const float shift = max + float(std::log(sum));
        for (int64_t i = 0; i < cols; ++i) orow[i] = from_float<T>(to_float(xr[i]) - shift);
      } else {
        const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
        for (int64_t i = 0; i < cols; ++i) orow[i] = from_float<T>(vr[i] * inv);
      }
    }
  });
}

template <class T>
void backward_typed(const SoftmaxBackwardParams& p) {
  const T* dy = static_cast<const T*>(p.grad_out);
  const T* y = static_cast<const T*>(p.out);
  T* dx = static_cast<T*>(p.grad_input);
  const int64_t cols = p.cols;
  parallel_for(0, p.rows, std::max<int64_t>(1, 8192 / cols), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* dr = dy + r * cols;
      const T* yr = y + r * cols;
      T* xr = dx + r * cols;
      if (p.log) {
        const float total = float(lane_sum(cols, [&](int64_t i) { return to_float(dr[i]); }));
        for (int64_t i = 0; i < cols; ++i)
          xr[i] = from_float<T>(to_float(dr[i]) - fast_math::exp(to_float(yr[i])) * total);
      } else {
        const float dot = float(lane_sum(cols, [&](int64_t i) { return to_float(dr[i]) * to_float(yr[i]); }));
        for (int64_t i = 0; i < cols; ++i) xr[i] = from_float<T>(to_float(yr[i]) * (to_float(dr[i]) - dot));
      }
    }
  });
}

}  // namespace

void softmax_forward(const SoftmaxParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    forward_typed<T>(p);
  });
}

void softmax_backward(const SoftmaxBackwardParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    backward_typed<T>(p);
  });
}

}  // namespace llmrec::kernels::cpu

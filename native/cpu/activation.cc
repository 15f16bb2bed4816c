// Lets GCC if-convert the selects in fast_math and vectorise the loops that call it; results do
// not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/activation.cu: flat parallel loops over elements (SwiGLU over rows of h).
#include "../kernels/activation.h"

#include <algorithm>

#include "../kernels/philox.h"
#include "isa.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h
namespace math = activation_math;

namespace {

constexpr int64_t kGrain = 1 << 14;

// The spans are compiled twice, for the baseline (AVX2) and for AVX-512, which doubles the vector
// width of these compute-bound loops; run_for_isa picks one per chunk.
template <ActivationOp OP, class T>
inline LLMREC_ISA_INLINE void forward_span(const T* __restrict x, T* __restrict out, int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i) out[i] = from_float<T>(math::forward<OP>(to_float(x[i]), slope));
}

template <ActivationOp OP, class T>
inline LLMREC_ISA_INLINE void backward_span(const T* __restrict dy, const T* __restrict x, T* __restrict dx,
                                            int64_t n, float slope) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = from_float<T>(to_float(dy[i]) * math::derivative<OP>(to_float(x[i]), slope));
}

template <class T>
inline LLMREC_ISA_INLINE void swiglu_forward_span(const T* __restrict gate, const T* __restrict up,
                                                  T* __restrict out, int64_t h) {
  for (int64_t j = 0; j < h; ++j) {
    const float g = to_float(gate[j]);
    out[j] = from_float<T>(g * math::sigmoid(g) * to_float(up[j]));
  }
}

// silu(g) and its derivative share one sigmoid.
template <class T>
inline LLMREC_ISA_INLINE void swiglu_backward_span(const T* __restrict gate, const T* __restrict up,
                                                   const T* __restrict dy, T* __restrict d_gate,
                                                   T* __restrict d_up, int64_t h) {
  for (int64_t j = 0; j < h; ++j) {
    const float g = to_float(gate[j]), gr = to_float(dy[j]);
    const float s = math::sigmoid(g);
    d_gate[j] = from_float<T>(gr * to_float(up[j]) * (s * (1.0f + g * (1.0f - s))));
    d_up[j] = from_float<T>(gr * g * s);
  }
}

template <ActivationOp OP, class T>
void forward_typed(const ActivationParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const float slope = p.slope;
  if constexpr (OP == ActivationOp::SwiGLU) {
    const int64_t h = p.half, rows = p.numel / (2 * h);
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / h), [=](int64_t lo, int64_t hi) {
      run_for_isa([=]() LLMREC_ISA_INLINE {
        for (int64_t r = lo; r < hi; ++r)
          swiglu_forward_span<T>(x + r * 2 * h, x + r * 2 * h + h, out + r * h, h);
      });
    });
  } else {
    parallel_for(0, p.numel, kGrain, [=](int64_t lo, int64_t hi) {
      run_for_isa([=]() LLMREC_ISA_INLINE { forward_span<OP, T>(x + lo, out + lo, hi - lo, slope); });
    });
  }
}

template <ActivationOp OP, class T>
void backward_typed(const ActivationBackwardParams& p) {
  const T* dy = static_cast<const T*>(p.grad_out);
  const T* x = static_cast<const T*>(p.x);
  T* dx = static_cast<T*>(p.grad_input);
  const float slope = p.slope;
  if constexpr (OP == ActivationOp::SwiGLU) {
    const int64_t h = p.half, rows = p.numel / (2 * h);
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / h), [=](int64_t lo, int64_t hi) {
      run_for_isa([=]() LLMREC_ISA_INLINE {
        for (int64_t r = lo; r < hi; ++r) {
          const T* gate = x + r * 2 * h;
          T* d_gate = dx + r * 2 * h;
          swiglu_backward_span<T>(gate, gate + h, dy + r * h, d_gate, d_gate + h, h);
        }
      });
    });
  } else {
    parallel_for(0, p.numel, kGrain, [=](int64_t lo, int64_t hi) {
      run_for_isa([=]()
                      LLMREC_ISA_INLINE { backward_span<OP, T>(dy + lo, x + lo, dx + lo, hi - lo, slope); });
    });
  }
}

}  // namespace

void activation_forward(const ActivationParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.op, [&](auto op) { forward_typed<decltype(op)::value, T>(p); });
  });
}

void activation_backward(const ActivationBackwardParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.op, [&](auto op) { backward_typed<decltype(op)::value, T>(p); });
  });
}

void dropout(const DropoutParams& p) {
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    {
      const T* x = static_cast<const T*>(p.x);
      T* out = static_cast<T*>(p.out);
      const float scale = 1.0f / (1.0f - p.p);
      const int64_t counters = (p.numel + 3) / 4;
      parallel_for(0, counters, 4096, [=](int64_t lo, int64_t hi) {
        for (int64_t c = lo; c < hi; ++c) {
          const philox::Bits4 bits = philox::generate(p.seed, p.offset + uint64_t(c));
          for (int k = 0; k < 4; ++k) {
            const int64_t i = c * 4 + k;
            if (i >= p.numel) break;
            const bool keep = philox::uniform01(philox::lane(bits, k)) >= p.p;
            out[i] = from_float<T>(keep ? to_float(x[i]) * scale : 0.0f);
          }
        }
      });
    }
  });
}

}  // namespace llmrec::kernels::cpu

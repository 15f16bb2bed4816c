// Element access shared by the CPU twins: every floating kernel computes in f32 (f64 where it
// accumulates) and converts bf16 at the load and the store.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "../abi/dtype.h"

namespace llmrec::cpu {

struct bf16 {
  uint16_t bits;
};

inline float to_float(float v) { return v; }
inline float to_float(bf16 v) { return bf16_bits_to_f32(v.bits); }
inline float to_float(int32_t v) { return float(v); }

template <class T>
inline T from_float(float v);
template <>
inline float from_float<float>(float v) {
  return v;
}
template <>
inline bf16 from_float<bf16>(float v) {
  return bf16{f32_to_bf16_bits(v)};
}
// Truncates toward zero and saturates, with NaN as 0: the rule CUDA's __float2int_rz follows.
template <>
inline int32_t from_float<int32_t>(float v) {
  if (std::isnan(v)) return 0;
  if (v >= 2147483648.0f) return std::numeric_limits<int32_t>::max();
  if (v <= -2147483648.0f) return std::numeric_limits<int32_t>::min();
  return int32_t(v);
}

// Dispatch on the element type with this twin's bf16 (native/abi/dtype.h).
inline constexpr DTypeVisitor<bf16> visit_dtype{};
inline constexpr FloatingVisitor<bf16> visit_floating{};

// Sum of f(i) for i < n in 16 f32 lanes (a loop GCC vectorises), combined in f64: close to f64
// accuracy for the row lengths of the kernels, at f32 speed.
template <class F>
double lane_sum(int64_t n, F f) {
  constexpr int64_t kSumLanes = 16;
  float lanes[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int64_t l = 0; l < kSumLanes; ++l) lanes[l] += f(i + l);
  double total = 0.0;
  for (int64_t l = 0; l < kSumLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += f(i);
  return total;
}

}  // namespace llmrec::cpu

// exp and erf for the CPU twins, written so that GCC vectorises the loops that call them (plain
// float arithmetic, selects instead of branches, no libm calls). Both are within a few ulp of
// libm in f32 (erf: absolute error < 4e-7), which is what the CUDA twins' expf/erff give too.
// Host only: device code uses the CUDA intrinsics.
#pragma once

#include <cstdint>
#include <cstring>

namespace llmrec::fast_math {

// Cephes expf: exp(x) = 2^n * exp(r) with r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite split)
// and a degree-6 polynomial for exp(r).
inline float exp(float x) {
  const float clamped = x < -87.0f ? -87.0f : (x > 88.72283905f ? 88.72283905f : x);
  const float n = __builtin_floorf(clamped * 1.44269504088896341f + 0.5f);
  const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (int32_t(n) + 126) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const float result = y * scale * 2.0f;
  // Outside the clamp exp underflows to 0 or overflows to inf; NaN stays NaN.
  return x < -87.0f ? 0.0f : (x > 88.72283905f ? __builtin_inff() : (x != x ? x : result));
}

// erf as an odd rational function of x on [-4, 4] (erf is 1 in f32 beyond): degree 13 over
// degree 8, the approximation Eigen and XLA use. One division and twelve FMAs, no exp, so it
// vectorises to a short branch-free loop; absolute error < 4e-7 and relative error < 4e-7 near 0
// (where an erfc-based form loses all relative accuracy).
inline float erf(float a) {
  const float x = a < -4.0f ? -4.0f : (a > 4.0f ? 4.0f : a);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  // NaN: the clamps keep it (comparisons with NaN are false), and so does the quotient.
  return x * p / q;
}

}  // namespace llmrec::fast_math

// exp and erf for the CPU twins, written so that GCC vectorises the loops that call them (plain
// float arithmetic, selects instead of branches, no libm calls). Both are within a few ulp of
// libm in f32 (erf: absolute error < 2e-7), which is what the CUDA twins' expf/erff give too.
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

// erf through erfc(|x|) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (Numerical Recipes' erfcc,
// fractional error < 1.2e-7).
inline float erf(float x) {
  const float z = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float erfc = t * exp(-z * z + p);
  const float magnitude = 1.0f - erfc;
  return x < 0.0f ? -magnitude : magnitude;
}

}  // namespace llmrec::fast_math

// Pointwise activations with their derivatives, and Philox dropout. The math lives here, once,
// as host/device functions, so the CPU twin (native/cpu/activation.cc) and the CUDA twin
// (cuda/activation.cu) evaluate the same f32 expressions.
//
// SwiGLU takes ONE tensor [..., 2h] holding the gate in the first half and the up projection in
// the second (the layout of a fused gate_up projection, as torch.chunk(2, -1) splits it) and
// returns silu(gate) * up with shape [..., h].
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../abi/dtype.h"
#include "../abi/host_device.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"
#include "fast_math.h"

namespace llmrec::kernels {

enum class ActivationOp : int32_t { GeluErf = 0, GeluTanh, Relu, LeakyRelu, Silu, SwiGLU };
inline constexpr EnumName<ActivationOp> kActivationOpNames[] = {
    {"gelu", ActivationOp::GeluErf}, {"geluTanh", ActivationOp::GeluTanh},
    {"relu", ActivationOp::Relu},    {"leakyRelu", ActivationOp::LeakyRelu},
    {"silu", ActivationOp::Silu},    {"swiglu", ActivationOp::SwiGLU}};

// Calls fn with the op as a compile-time constant (a std::integral_constant), so each twin's
// inner loop is branch-free. Host code, for both twins' launchers.
template <class Fn>
void visit_activation(ActivationOp op, Fn&& fn) {
  switch (op) {
    case ActivationOp::GeluErf: return fn(std::integral_constant<ActivationOp, ActivationOp::GeluErf>());
    case ActivationOp::GeluTanh: return fn(std::integral_constant<ActivationOp, ActivationOp::GeluTanh>());
    case ActivationOp::Relu: return fn(std::integral_constant<ActivationOp, ActivationOp::Relu>());
    case ActivationOp::LeakyRelu: return fn(std::integral_constant<ActivationOp, ActivationOp::LeakyRelu>());
    case ActivationOp::Silu: return fn(std::integral_constant<ActivationOp, ActivationOp::Silu>());
    case ActivationOp::SwiGLU: return fn(std::integral_constant<ActivationOp, ActivationOp::SwiGLU>());
  }
}

// What the forward and the backward share.
struct ActivationShape {
  ActivationOp op = ActivationOp::Relu;
  DType dtype = DType::F32;  // of x, out and the gradients
  int64_t numel = 0;         // of x
  int64_t half = 0;          // SwiGLU: h, the extent of the output's last axis
  float slope = 0.01f;
  const void* x = nullptr;
};

struct ActivationParams : ActivationShape {
  void* out = nullptr;
};

// grad_input has x's shape; grad_out has the output's.
struct ActivationBackwardParams : ActivationShape {
  const void* grad_out = nullptr;
  void* grad_input = nullptr;
};

// out[i] = keep(i) ? x[i] / (1 - p) : 0 with keep(i) = uniform(seed, offset, i) >= p, where the
// uniform is lane i % 4 of Philox counter offset + i / 4 (the rule `rand` follows). The backward
// is the same kernel applied to the output gradient: the mask is regenerated, never stored.
struct DropoutParams {
  DType dtype = DType::F32;
  const void* x = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  float p = 0.0f;
  uint64_t seed = 0, offset = 0;
};

namespace activation_math {

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluCubic = 0.044715f;

// The device uses CUDA's expf/erff/tanhf; the host uses fast_math, whose loops vectorise.
LLMREC_HD float exp_(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  return fast_math::exp(x);
#endif
}
LLMREC_HD float erf_(float x) {
#ifdef __CUDA_ARCH__
  return erff(x);
#else
  return fast_math::erf(x);
#endif
}
LLMREC_HD float tanh_(float x) {
#ifdef __CUDA_ARCH__
  return tanhf(x);
#else
  return 1.0f - 2.0f / (fast_math::exp(2.0f * x) + 1.0f);
#endif
}

LLMREC_HD float sigmoid(float x) { return 1.0f / (1.0f + exp_(-x)); }

template <ActivationOp OP>
LLMREC_HD float forward(float x, float slope) {
  if constexpr (OP == ActivationOp::GeluErf) return 0.5f * x * (1.0f + erf_(x * kSqrtHalf));
  if constexpr (OP == ActivationOp::GeluTanh)
    return 0.5f * x * (1.0f + tanh_(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
  if constexpr (OP == ActivationOp::Relu) return x > 0.0f ? x : 0.0f;
  if constexpr (OP == ActivationOp::LeakyRelu) return x > 0.0f ? x : slope * x;
  if constexpr (OP == ActivationOp::Silu || OP == ActivationOp::SwiGLU) return x * sigmoid(x);
  return x;
}

// d forward / dx
template <ActivationOp OP>
LLMREC_HD float derivative(float x, float slope) {
  if constexpr (OP == ActivationOp::GeluErf)
    return 0.5f * (1.0f + erf_(x * kSqrtHalf)) + x * kInvSqrt2Pi * exp_(-0.5f * x * x);
  if constexpr (OP == ActivationOp::GeluTanh) {
    const float t = tanh_(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  }
  if constexpr (OP == ActivationOp::Relu) return x > 0.0f ? 1.0f : 0.0f;
  if constexpr (OP == ActivationOp::LeakyRelu) return x > 0.0f ? 1.0f : slope;
  if constexpr (OP == ActivationOp::Silu || OP == ActivationOp::SwiGLU) {
    const float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
  }
  return 1.0f;
}

}  // namespace activation_math

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(activation_forward, ActivationParams);
LLMREC_KERNEL_TWINS(activation_backward, ActivationBackwardParams);
LLMREC_KERNEL_TWINS(dropout, DropoutParams);

}  // namespace llmrec::kernels

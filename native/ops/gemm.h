// Tensor-level GEMM: validate, allocate, dispatch to the kernel twins.
#pragma once

#include <optional>

#include "../core/context.h"
#include "../kernels/gemm.h"

namespace llmrec::ops {

struct GemmOptions {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  kernels::Activation activation = kernels::Activation::None;
  std::optional<DType> out_dtype;  // defaults to the inputs' dtype
  // Also return the value before the activation (what backward differentiates the activation at).
  bool keep_pre_activation = false;
};

struct GemmResult {
  Tensor out;
  Tensor pre_activation;  // undefined unless asked for
};

// out = act(alpha * op(a) * op(b) + beta * c + bias). a and b are [m,k] / [k,n] (or transposed)
// matrices or [batch, ., .] stacks; a 2-D operand, or a stack of one, is shared by every problem.
GemmResult gemm(Context& ctx, const Tensor& a, const Tensor& b, const Tensor* c, const Tensor* bias,
                const GemmOptions& options);

// grad * act'(pre_activation).
Tensor epilogue_backward(Context& ctx, kernels::Activation activation, const Tensor& pre_activation,
                         const Tensor& grad);

const char* activation_name(kernels::Activation activation);

}  // namespace llmrec::ops

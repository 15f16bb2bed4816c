// Tensor-level elementwise ops: validate, allocate, dispatch to the kernel twins.
#pragma once

#include <optional>

#include "../core/context.h"
#include "../kernels/elementwise.h"

namespace llmrec::ops {

// a (op) b with numpy broadcasting; writes into `out` when given (it must have the result's
// shape, dtype and device, and may be `a` itself for an in-place update).
Tensor binary(Context& ctx, kernels::BinaryOp op, const Tensor& a, const Tensor& b,
              const Tensor* out = nullptr);
Tensor unary(Context& ctx, kernels::UnaryOp op, const Tensor& x, float alpha = 1.0f, float beta = 0.0f,
             const Tensor* out = nullptr);
Tensor cast(Context& ctx, const Tensor& x, DType to);
// Reduces over `axis` (negative counts from the end), or over every axis when axis is empty.
Tensor reduce(Context& ctx, kernels::ReduceOp op, const Tensor& x, std::optional<int64_t> axis,
              bool keep_dims);
void fill(Context& ctx, const Tensor& out, double value);
Tensor random(Context& ctx, const Shape& shape, DType dtype, const Device& device,
              kernels::RandomDistribution distribution, float a, float b, uint64_t seed, uint64_t offset);
// x broadcast to `shape` (numpy rules), as a new contiguous tensor.
Tensor expand(Context& ctx, const Tensor& x, const Shape& shape);

const char* binary_op_name(kernels::BinaryOp op);
const char* unary_op_name(kernels::UnaryOp op);
const char* reduce_op_name(kernels::ReduceOp op);

}  // namespace llmrec::ops

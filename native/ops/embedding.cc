#include "embedding.h"

#include <algorithm>
#include <limits>

#include "../abi/error.h"
#include "../core/dispatch.h"

namespace llmrec::ops {
namespace {

constexpr int64_t kMaxIndices = std::numeric_limits<int32_t>::max();
// Keys run up to `rows` (padding sorts last), so rows must leave one i32 value free.
constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max() - 1;

// Checks what the forward and the backward share and returns it as the kernels take it.
kernels::EmbeddingShape check_common(const char* op, const Tensor& indices, int64_t rows, int64_t width,
                                     DType dtype, EmbeddingOptions options) {
  if (indices.dtype != DType::I32)
    fail(op, ": 'indices' must be i32 but is ", dtype_name(indices.dtype), shape_str(indices.shape),
         "; cast it with .cast('i32')");
  if (indices.numel > kMaxIndices)
    fail(op, ": 'indices' has ", indices.numel, " elements ", shape_str(indices.shape), "; at most ",
         kMaxIndices, " are supported");
  if (rows > kMaxRows) fail(op, ": the table has ", rows, " rows; at most ", kMaxRows, " are supported");
  if (options.padding_idx >= rows)
    fail(op, ": 'paddingIdx' ", options.padding_idx, " is out of range for a table of ", rows, " rows");
  if (options.padding_idx < 0) options.padding_idx = -1;
  kernels::EmbeddingShape s;
  static_cast<EmbeddingOptions&>(s) = options;
  s.dtype = dtype;
  s.indices = indices.data_as<int32_t>();
  s.count = indices.numel;
  s.rows = rows;
  s.width = width;
  return s;
}

int64_t sequence_length_of(const char* op, const Tensor& indices, int64_t position_rows) {
  if (indices.dim() == 0)
    fail(op,
         ": 'positions' needs indices with at least one axis (positions run along the last), got a scalar");
  const int64_t length = indices.size(-1);
  if (length > position_rows)
    fail(op, ": 'positions' has ", position_rows, " rows but the last axis of 'indices' ",
         shape_str(indices.shape), " has ", length, " positions");
  return std::max<int64_t>(length, 1);  // an empty last axis has no positions to divide by
}

}  // namespace

Tensor embedding(Context& ctx, const Tensor& indices, const Tensor& table, const Tensor* positions_or_null,
                 const EmbeddingOptions& options) {
  const char* op = "embedding";
  if (!is_floating(table.dtype) || table.dim() != 2)
    fail(op, ": 'table' must be a 2-d f32 or bf16 tensor [rows, width] but is ", dtype_name(table.dtype),
         shape_str(table.shape));
  const int64_t rows = table.size(0), width = table.size(1);
  const Device device = table.device();
  expect_device(op, device, {{"indices", &indices}});
  kernels::EmbeddingForwardParams p;
  static_cast<kernels::EmbeddingShape&>(p) = check_common(op, indices, rows, width, table.dtype, options);
  if (positions_or_null != nullptr) {
    const Tensor& positions = *positions_or_null;
    expect_device(op, device, {{"positions", &positions}});
    if (positions.dtype != table.dtype || positions.dim() != 2 || positions.size(1) != width)
      fail(op, ": 'positions' must be ", dtype_name(table.dtype), "[L, ", width, "] like the table ",
           dtype_name(table.dtype), shape_str(table.shape), " but is ", dtype_name(positions.dtype),
           shape_str(positions.shape));
    p.positions = positions.data();
    p.sequence_length = sequence_length_of(op, indices, positions.size(0));
  }
  Shape out_shape = indices.shape;
  out_shape.push_back(width);
  Tensor out = ctx.empty(out_shape, table.dtype, device, op);
  p.table = table.data();
  p.out = out.data();
  if (out.numel == 0) return out;
  const Tensor& positions = positions_or_null != nullptr ? *positions_or_null : table;
  submit_twins(ctx, device, op, {&indices, &table, &positions, &out}, LLMREC_TWINS(embedding_forward), p);
  return out;
}

EmbeddingGrads embedding_backward(Context& ctx, const Tensor& indices, const Tensor& grad_out, int64_t rows,
                                  int64_t position_rows, const EmbeddingOptions& options, bool need_table,
                                  bool need_positions) {
  const char* op = "embedding backward";
  if (!is_floating(grad_out.dtype) || grad_out.dim() != indices.dim() + 1)
    fail(op, ": 'gradOut' must be f32 or bf16 with shape [...indices, width] for indices ",
         shape_str(indices.shape), " but is ", dtype_name(grad_out.dtype), shape_str(grad_out.shape));
  for (int64_t d = 0; d < indices.dim(); ++d)
    if (grad_out.size(d) != indices.size(d))
      fail(op, ": 'gradOut' ", shape_str(grad_out.shape), " does not match indices ",
           shape_str(indices.shape));
  const Device device = grad_out.device();
  expect_device(op, device, {{"indices", &indices}});
  const int64_t width = grad_out.size(-1);
  kernels::EmbeddingBackwardParams p;
  static_cast<kernels::EmbeddingShape&>(p) = check_common(op, indices, rows, width, grad_out.dtype, options);
  p.grad_out = grad_out.data();
  EmbeddingGrads grads;
  if (need_table) {
    grads.table = ctx.empty({rows, width}, grad_out.dtype, device, op);
    p.grad_table = grads.table.data();
  }
  if (need_positions) {
    if (position_rows <= 0) fail(op, ": a position gradient was asked for without a position table");
    p.sequence_length = sequence_length_of(op, indices, position_rows);
    p.position_rows = position_rows;
    grads.positions = ctx.empty({position_rows, width}, grad_out.dtype, device, op);
    p.grad_positions = grads.positions.data();
  }
  if ((!need_table && !need_positions) || width == 0 || (rows == 0 && !need_positions)) return grads;
  const Tensor& table_grad = need_table ? grads.table : grad_out;
  const Tensor& positions_grad = need_positions ? grads.positions : grad_out;
  submit_twins(ctx, device, op, {&indices, &grad_out, &table_grad, &positions_grad},
               LLMREC_TWINS(embedding_backward), p);
  return grads;
}

}  // namespace llmrec::ops

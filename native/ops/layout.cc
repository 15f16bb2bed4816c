#include "layout.h"

#include <string>

#include "../abi/error.h"
#include "../core/dispatch.h"
#include "../kernels/layout.h"
#include "elementwise.h"

namespace llmrec::ops {
namespace {

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

int64_t resolve_axis(const char* op, int64_t axis, size_t ndim) {
  const int64_t n = int64_t(ndim);
  if (axis < -n || axis >= n) fail(op, ": 'axis' ", axis, " is out of range for a tensor with ", n, " axes");
  return axis < 0 ? axis + n : axis;
}

// Copies `shape` elements from src (strides src_strides, element offset src_offset) into dst.
void copy(Context& ctx, const char* op, const Tensor& src, const std::vector<int64_t>& src_strides,
          int64_t src_offset, const Tensor& dst, const std::vector<int64_t>& dst_strides, int64_t dst_offset,
          const Shape& shape) {
  kernels::StridedCopyParams p;
  p.dtype = src.dtype;
  p.numel = 1;
  for (int64_t extent : shape) p.numel *= extent;
  if (p.numel == 0) return;
  if (shape.size() > size_t(kernels::kMaxLayoutDims))
    fail(op, ": tensors with more than ", kernels::kMaxLayoutDims, " axes are not supported, got ",
         shape_str(shape));
  p.ndim = int(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    p.shape[d] = shape[d];
    p.src_strides[d] = src_strides[d];
    p.dst_strides[d] = dst_strides[d];
  }
  if (p.ndim == 0) {  // a scalar: one element
    p.ndim = 1;
    p.shape[0] = 1;
    p.src_strides[0] = p.dst_strides[0] = 1;
  }
  const size_t word = dtype_size(src.dtype);
  p.src = static_cast<const char*>(src.data()) + size_t(src_offset) * word;
  p.dst = static_cast<char*>(dst.data()) + size_t(dst_offset) * word;
  submit_twins(ctx, dst.device(), op, {&src, &dst}, LLMREC_TWINS(strided_copy), p);
}

}  // namespace

Tensor permute(Context& ctx, const Tensor& x, const std::vector<int64_t>& dims) {
  constexpr const char* kOp = "permute";
  if (dims.size() != x.shape.size())
    fail(kOp, ": 'dims' has ", dims.size(), " entries but the tensor ", shape_str(x.shape), " has ",
         x.shape.size(), " axes");
  std::vector<bool> used(dims.size(), false);
  Shape out_shape(dims.size());
  const std::vector<int64_t> x_strides = contiguous_strides(x.shape);
  std::vector<int64_t> src_strides(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    const int64_t axis = resolve_axis(kOp, dims[d], dims.size());
    if (used[size_t(axis)]) fail(kOp, ": 'dims' names axis ", axis, " twice");
    used[size_t(axis)] = true;
    out_shape[d] = x.shape[size_t(axis)];
    src_strides[d] = x_strides[size_t(axis)];
  }
  Tensor out = ctx.empty(out_shape, x.dtype, x.device(), kOp);
  copy(ctx, kOp, x, src_strides, 0, out, contiguous_strides(out_shape), 0, out_shape);
  return out;
}

Tensor narrow(Context& ctx, const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  constexpr const char* kOp = "narrow";
  const int64_t a = resolve_axis(kOp, axis, x.shape.size());
  const int64_t extent = x.shape[size_t(a)];
  if (start < 0 || length < 0 || start + length > extent)
    fail(kOp, ": [", start, ", ", start + length, ") is outside axis ", a, " of ", shape_str(x.shape),
         " (extent ", extent, ")");
  Shape out_shape = x.shape;
  out_shape[size_t(a)] = length;
  Tensor out = ctx.empty(out_shape, x.dtype, x.device(), kOp);
  const std::vector<int64_t> strides = contiguous_strides(x.shape);
  copy(ctx, kOp, x, strides, start * strides[size_t(a)], out, contiguous_strides(out_shape), 0, out_shape);
  return out;
}

Tensor concat(Context& ctx, const std::vector<const Tensor*>& tensors, int64_t axis) {
  constexpr const char* kOp = "concat";
  if (tensors.empty()) fail(kOp, ": 'tensors' is empty");
  const Tensor& first = *tensors[0];
  const int64_t a = resolve_axis(kOp, axis, first.shape.size());
  Shape out_shape = first.shape;
  out_shape[size_t(a)] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = *tensors[i];
    if (t.dtype != first.dtype || t.device() != first.device() || t.shape.size() != first.shape.size())
      fail(kOp, ": 'tensors[", i, "]' is ", dtype_name(t.dtype), shape_str(t.shape), " on ", t.device().str(),
           " but tensors[0] is ", dtype_name(first.dtype), shape_str(first.shape), " on ",
           first.device().str());
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (int64_t(d) != a && t.shape[d] != first.shape[d])
        fail(kOp, ": 'tensors[", i, "]' ", shape_str(t.shape), " differs from tensors[0] ",
             shape_str(first.shape), " on axis ", d, ", which is not the concatenation axis ", a);
    out_shape[size_t(a)] += t.shape[size_t(a)];
  }
  Tensor out = ctx.empty(out_shape, first.dtype, first.device(), kOp);
  const std::vector<int64_t> out_strides = contiguous_strides(out_shape);
  int64_t at = 0;
  for (const Tensor* t : tensors) {
    copy(ctx, kOp, *t, contiguous_strides(t->shape), 0, out, out_strides, at * out_strides[size_t(a)],
         t->shape);
    at += t->shape[size_t(a)];
  }
  return out;
}

Tensor narrow_backward(Context& ctx, const Tensor& grad, const Shape& shape, int64_t axis, int64_t start) {
  constexpr const char* kOp = "narrowBackward";
  const int64_t a = resolve_axis(kOp, axis, shape.size());
  if (grad.shape.size() != shape.size() || start < 0 || start + grad.shape[size_t(a)] > shape[size_t(a)])
    fail(kOp, ": a gradient ", shape_str(grad.shape), " at ", start, " does not fit in ", shape_str(shape),
         " along axis ", a);
  Tensor out = ctx.empty(shape, grad.dtype, grad.device(), kOp);
  fill(ctx, out, 0.0);
  const std::vector<int64_t> strides = contiguous_strides(shape);
  copy(ctx, kOp, grad, contiguous_strides(grad.shape), 0, out, strides, start * strides[size_t(a)],
       grad.shape);
  return out;
}

}  // namespace llmrec::ops

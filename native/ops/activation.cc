#include "activation.h"

#include "../core/dispatch.h"
#include "dense_checks.h"

namespace llmrec::ops {
using kernels::ActivationOp;
using namespace dense;

const char* activation_name(ActivationOp op) {
  return enum_name(kernels::kActivationOpNames, op, "activation");
}

namespace {
Shape output_shape(const char* op, ActivationOp kind, const Tensor& x) {
  if (kind != ActivationOp::SwiGLU) return x.shape;
  const int64_t cols = last_dim(op, "x", x);
  if (cols % 2 != 0)
    fail(op, ": the last axis of 'x' ", shape_str(x.shape),
         " must have even extent: its first half is the gate and its second half the up projection");
  Shape shape = x.shape;
  shape.back() = cols / 2;
  return shape;
}

// The parameters the forward and the backward share, for input x and output shape `shape`.
kernels::ActivationShape activation_shape(ActivationOp kind, const Tensor& x, const Shape& shape,
                                          float slope) {
  kernels::ActivationShape s;
  s.op = kind;
  s.dtype = x.dtype;
  s.numel = x.numel;
  s.half = kind == ActivationOp::SwiGLU ? shape.back() : 0;
  s.slope = slope;
  s.x = x.data();
  return s;
}
}  // namespace

Tensor activation(Context& ctx, ActivationOp kind, const Tensor& x, float slope) {
  const char* op = activation_name(kind);
  expect_floating(op, "x", x);
  const Shape shape = output_shape(op, kind, x);
  const Device device = x.device();
  Tensor out = ctx.empty(shape, x.dtype, device, op);
  kernels::ActivationParams p;
  static_cast<kernels::ActivationShape&>(p) = activation_shape(kind, x, shape, slope);
  p.out = out.data();
  if (out.numel == 0) return out;
  submit_twins(ctx, device, op, {&x, &out}, LLMREC_TWINS(activation_forward), p);
  return out;
}

Tensor activation_backward(Context& ctx, ActivationOp kind, const Tensor& grad_out, const Tensor& x,
                           float slope) {
  const char* op = activation_name(kind);
  expect_floating(op, "x", x);
  const Shape shape = output_shape(op, kind, x);
  if (grad_out.shape != shape)
    fail(op, " backward: 'gradOut' has shape ", shape_str(grad_out.shape), " but the output has ",
         shape_str(shape));
  expect_dtype(op, "gradOut", grad_out, x.dtype, "x");
  const Device device = x.device();
  expect_device(op, device, {{"gradOut", &grad_out}});
  Tensor dx = ctx.empty(x.shape, x.dtype, device, op);
  kernels::ActivationBackwardParams p;
  static_cast<kernels::ActivationShape&>(p) = activation_shape(kind, x, shape, slope);
  p.grad_out = grad_out.data();
  p.grad_input = dx.data();
  if (dx.numel == 0) return dx;
  submit_twins(ctx, device, op, {&grad_out, &x, &dx}, LLMREC_TWINS(activation_backward), p);
  return dx;
}

Tensor dropout(Context& ctx, const Tensor& x, float prob, uint64_t seed, uint64_t offset) {
  expect_floating("dropout", "x", x);
  if (!(prob >= 0.0f && prob < 1.0f)) fail("dropout: 'p' must be in [0, 1), got ", prob);
  const Device device = x.device();
  Tensor out = ctx.empty(x.shape, x.dtype, device, "dropout");
  kernels::DropoutParams p;
  p.dtype = x.dtype;
  p.x = x.data();
  p.out = out.data();
  p.numel = x.numel;
  p.p = prob;
  p.seed = seed;
  p.offset = offset;
  if (out.numel == 0) return out;
  submit_twins(ctx, device, "dropout", {&x, &out}, LLMREC_TWINS(dropout), p);
  return out;
}

}  // namespace llmrec::ops

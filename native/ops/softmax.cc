#include "softmax.h"

#include "../core/dispatch.h"
#include "../kernels/softmax.h"
#include "dense_checks.h"

namespace llmrec::ops {
using namespace dense;

Tensor softmax(Context& ctx, const Tensor& x, bool log) {
  const char* op = log ? "logSoftmax" : "softmax";
  expect_floating(op, "x", x);
  const int64_t cols = last_dim(op, "x", x);
  const Device device = x.device();
  Tensor out = ctx.empty(x.shape, x.dtype, device, op);
  if (out.numel == 0) return out;
  kernels::SoftmaxParams p;
  static_cast<kernels::SoftmaxShape&>(p) = {x.dtype, log, x.numel / cols, cols};
  p.x = x.data();
  p.out = out.data();
  submit_twins(ctx, device, op, {&x, &out}, LLMREC_TWINS(softmax_forward), p);
  return out;
}

Tensor softmax_backward(Context& ctx, const Tensor& grad_out, const Tensor& out, bool log) {
  const char* op = log ? "logSoftmax backward" : "softmax backward";
  expect_floating(op, "out", out);
  const int64_t cols = last_dim(op, "out", out);
  expect_grad_like(op, "gradOut", grad_out, out, "out", out, "out");
  const Device device = out.device();
  expect_device(op, device, {{"gradOut", &grad_out}});
  Tensor dx = ctx.empty(out.shape, out.dtype, device, op);
  if (dx.numel == 0) return dx;
  kernels::SoftmaxBackwardParams p;
  static_cast<kernels::SoftmaxShape&>(p) = {out.dtype, log, out.numel / cols, cols};
  p.grad_out = grad_out.data();
  p.out = out.data();
  p.grad_input = dx.data();
  submit_twins(ctx, device, op, {&grad_out, &out, &dx}, LLMREC_TWINS(softmax_backward), p);
  return dx;
}

}  // namespace llmrec::ops

#include "softmax.h"

#include "../core/dispatch.h"
#include "../kernels/softmax.h"
#include "dense_checks.h"

namespace llmrec::ops {
using namespace dense;

namespace {
// Checks `t` (x for the forward, the output for the backward) and returns what both kernels take.
kernels::SoftmaxShape plan(const char* op, const char* arg, const Tensor& t, bool log) {
  expect_floating(op, arg, t);
  const int64_t cols = last_dim(op, arg, t);
  return {t.dtype, log, cols == 0 ? 0 : t.numel / cols, cols};
}
}  // namespace

Tensor softmax(Context& ctx, const Tensor& x, bool log) {
  const char* op = log ? "logSoftmax" : "softmax";
  const kernels::SoftmaxShape shape = plan(op, "x", x, log);
  Tensor out = ctx.empty(x.shape, x.dtype, x.device(), op);
  if (out.numel > 0)
    submit_twins(ctx, x.device(), op, {&x, &out}, LLMREC_TWINS(softmax_forward),
                 kernels::SoftmaxParams{shape, x.data(), out.data()});
  return out;
}

Tensor softmax_backward(Context& ctx, const Tensor& grad_out, const Tensor& out, bool log) {
  const char* op = log ? "logSoftmax backward" : "softmax backward";
  const kernels::SoftmaxShape shape = plan(op, "out", out, log);
  expect_grad_like(op, "gradOut", grad_out, out, "out", out, "out");
  expect_device(op, out.device(), {{"gradOut", &grad_out}});
  Tensor dx = ctx.empty(out.shape, out.dtype, out.device(), op);
  if (dx.numel > 0)
    submit_twins(ctx, out.device(), op, {&grad_out, &out, &dx}, LLMREC_TWINS(softmax_backward),
                 kernels::SoftmaxBackwardParams{shape, grad_out.data(), out.data(), dx.data()});
  return dx;
}

}  // namespace llmrec::ops

#include "norm.h"

#include "../core/dispatch.h"
#include "../kernels/norm.h"
#include "dense_checks.h"

namespace llmrec::ops {
using namespace dense;

namespace {
const char* norm_name(bool rms) { return rms ? "rmsNorm" : "layerNorm"; }

void expect_params(const char* op, const Tensor& x, const Tensor& param, const char* arg) {
  if (param.dim() != 1 || param.shape[0] != x.shape.back())
    fail(op, ": '", arg, "' has shape ", shape_str(param.shape), " but must be [", x.shape.back(),
         "] to match the last axis of 'x' ", shape_str(x.shape));
  expect_dtype(op, arg, param, x.dtype, "x");
}
}  // namespace

NormResult norm_forward(Context& ctx, bool rms, const Tensor& x, const Tensor* residual, const Tensor& weight,
                        const Tensor* bias, float eps) {
  const char* op = norm_name(rms);
  expect_floating(op, "x", x);
  const int64_t cols = last_dim(op, "x", x);
  if (cols == 0) fail(op, ": the last axis of 'x' ", shape_str(x.shape), " is empty");
  if (!(eps >= 0.0f)) fail(op, ": 'eps' must be >= 0, got ", eps);
  expect_params(op, x, weight, "weight");
  if (bias) {
    if (rms) fail(op, ": RMSNorm takes no 'bias'");
    expect_params(op, x, *bias, "bias");
  }
  if (residual) {
    expect_same_shape(op, "residual", *residual, x, "x");
    expect_dtype(op, "residual", *residual, x.dtype, "x");
  }
  const Device device = x.device();
  expect_device(op, device, {{"residual", residual}, {"weight", &weight}, {"bias", bias}});
  const int64_t rows = x.numel / cols;
  NormResult r;
  r.out = ctx.empty(x.shape, x.dtype, device, op);
  if (residual) r.sum = ctx.empty(x.shape, x.dtype, device, op);
  if (!rms) r.mean = ctx.empty({rows}, DType::F32, device, op);
  r.rstd = ctx.empty({rows}, DType::F32, device, op);
  kernels::NormForwardParams p;
  static_cast<kernels::NormShape&>(p) = {x.dtype, rms, rows, cols, weight.data()};
  p.x = x.data();
  p.residual = residual ? residual->data() : nullptr;
  p.bias = bias ? bias->data() : nullptr;
  p.out = r.out.data();
  p.sum = residual ? r.sum.data() : nullptr;
  p.mean = rms ? nullptr : r.mean.data_as<float>();
  p.rstd = r.rstd.data_as<float>();
  p.eps = eps;
  if (rows == 0) return r;
  submit_twins(ctx, device, op, {&x, residual, &weight, bias, &r.out, &r.sum, &r.mean, &r.rstd},
               LLMREC_TWINS(norm_forward), p);
  return r;
}

NormGrads norm_backward(Context& ctx, bool rms, const Tensor& grad_out, const Tensor* grad_sum,
                        const Tensor& input, const Tensor& weight, const Tensor* mean, const Tensor& rstd,
                        bool with_bias) {
  const char* op = rms ? "rmsNorm backward" : "layerNorm backward";
  expect_floating(op, "gradOut", grad_out);
  const int64_t cols = last_dim(op, "input", input);
  expect_grad_like(op, "gradOut", grad_out, input, "input", input, "input");
  if (grad_sum) {
    expect_grad_like(op, "gradSum", *grad_sum, input, "input", input, "input");
  }
  expect_params(op, input, weight, "weight");
  const int64_t rows = cols == 0 ? 0 : input.numel / cols;
  auto expect_stats = [&](const Tensor& t, const char* arg) {
    if (t.dtype != DType::F32 || t.numel != rows)
      fail(op, ": '", arg, "' must be f32 [", rows, "] but is ", dtype_name(t.dtype), shape_str(t.shape));
  };
  expect_stats(rstd, "rstd");
  if (!rms) {
    if (!mean) fail(op, ": LayerNorm backward needs 'mean'");
    expect_stats(*mean, "mean");
  }
  const Device device = input.device();
  expect_device(
      op, device,
      {{"gradOut", &grad_out}, {"gradSum", grad_sum}, {"weight", &weight}, {"mean", mean}, {"rstd", &rstd}});
  NormGrads g;
  g.input = ctx.empty(input.shape, input.dtype, device, op);
  g.weight = ctx.empty(weight.shape, weight.dtype, device, op);
  if (with_bias) g.bias = ctx.empty(weight.shape, weight.dtype, device, op);
  kernels::NormBackwardParams p;
  static_cast<kernels::NormShape&>(p) = {input.dtype, rms, rows, cols, weight.data()};
  p.grad_out = grad_out.data();
  p.grad_sum = grad_sum ? grad_sum->data() : nullptr;
  p.input = input.data();
  p.mean = rms ? nullptr : mean->data_as<float>();
  p.rstd = rstd.data_as<float>();
  p.grad_input = g.input.data();
  p.grad_weight = g.weight.data();
  p.grad_bias = with_bias ? g.bias.data() : nullptr;
  submit_twins(ctx, device, op,
               {&grad_out, grad_sum, &input, &weight, mean, &rstd, &g.input, &g.weight, &g.bias},
               LLMREC_TWINS(norm_backward), p);
  return g;
}

}  // namespace llmrec::ops

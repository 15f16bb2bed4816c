#include "mlp_distill.h"

#include "../core/dispatch.h"
#include "../kernels/gemm.h"
#include "dense_checks.h"

namespace llmrec::ops {
using namespace dense;

namespace {

constexpr const char* kOp = "mlpDistill";

void expect_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected, const char* why) {
  if (t.shape != expected)
    fail(op, ": '", arg, "' has shape ", shape_str(t.shape), " but must be ", shape_str(expected), " ", why);
}

void expect_matrix(const char* op, const char* arg, const Tensor& t) {
  if (t.dim() != 2) fail(op, ": '", arg, "' must be a matrix but has shape ", shape_str(t.shape));
}

// out [m, n] (f32 or `out_dtype`) = op(a) op(b) with the gemm family's twins.
kernels::GemmParams matmul(DType ab_dtype, DType out_dtype, const void* a, bool trans_a, const void* b,
                           bool trans_b, void* out, int64_t m, int64_t n, int64_t k) {
  kernels::GemmParams g;
  g.ab_dtype = ab_dtype;
  g.c_dtype = out_dtype;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = trans_a ? m : k;
  g.b = b;
  g.ldb = trans_b ? k : n;
  g.out = out;
  g.ldc = n;
  g.stride_c = m * n;
  return g;
}

void run_gemm(const Exec& exec, const kernels::GemmParams& g) { LLMREC_TWINS(gemm)(g, exec); }

}  // namespace

MlpDistillForward mlp_distill_forward(Context& ctx, const Tensor& x, const Tensor& w1, const Tensor& b1,
                                      const Tensor& w2, const Tensor& b2, const Tensor& teacher,
                                      const Tensor* ln_weight, const Tensor* ln_bias,
                                      const MlpDistillOptions& options) {
  expect_floating(kOp, "x", x);
  expect_matrix(kOp, "x", x);
  const int64_t batch = x.shape[0], in = x.shape[1];
  if (batch == 0 || in == 0) fail(kOp, ": 'x' ", shape_str(x.shape), " is empty");
  expect_matrix(kOp, "w1", w1);
  const int64_t hidden = w1.shape[0];
  if (hidden == 0) fail(kOp, ": 'w1' ", shape_str(w1.shape), " has no hidden units");
  expect_shape(kOp, "w1", w1, {hidden, in}, "([hidden, in], in from 'x')");
  expect_shape(kOp, "b1", b1, {hidden}, "([hidden], hidden from 'w1')");
  expect_matrix(kOp, "w2", w2);
  const int64_t out = w2.shape[0];
  if (out == 0) fail(kOp, ": 'w2' ", shape_str(w2.shape), " has no outputs");
  expect_shape(kOp, "w2", w2, {out, hidden}, "([out, hidden], hidden from 'w1')");
  expect_shape(kOp, "b2", b2, {out}, "([out], out from 'w2')");
  expect_shape(kOp, "teacher", teacher, {batch, out}, "([batch, out], batch from 'x', out from 'w2')");
  if ((ln_weight == nullptr) != (ln_bias == nullptr))
    fail(kOp, ": LayerNorm needs both 'lnWeight' and 'lnBias'");
  if (ln_weight) {
    expect_shape(kOp, "lnWeight", *ln_weight, {hidden}, "([hidden], hidden from 'w1')");
    expect_shape(kOp, "lnBias", *ln_bias, {hidden}, "([hidden], hidden from 'w1')");
    expect_dtype(kOp, "lnWeight", *ln_weight, x.dtype, "x");
    expect_dtype(kOp, "lnBias", *ln_bias, x.dtype, "x");
    if (!(options.ln_eps >= 0.0f)) fail(kOp, ": LayerNorm 'eps' must be >= 0, got ", options.ln_eps);
  }
  for (const auto& [arg, t] : {std::pair<const char*, const Tensor*>{"w1", &w1},
                               {"b1", &b1},
                               {"w2", &w2},
                               {"b2", &b2},
                               {"teacher", &teacher}})
    expect_dtype(kOp, arg, *t, x.dtype, "x");
  const Device device = x.device();
  expect_device(kOp, device,
                {{"w1", &w1},
                 {"b1", &b1},
                 {"w2", &w2},
                 {"b2", &b2},
                 {"teacher", &teacher},
                 {"lnWeight", ln_weight},
                 {"lnBias", ln_bias}});

  MlpDistillForward r;
  r.loss = ctx.empty({}, DType::F32, device, kOp);
  r.pre = ctx.empty({batch, hidden}, DType::F32, device, kOp);
  if (ln_weight) {
    r.mean = ctx.empty({batch}, DType::F32, device, kOp);
    r.rstd = ctx.empty({batch}, DType::F32, device, kOp);
  }
  r.hidden = ctx.empty({batch, hidden}, x.dtype, device, kOp);
  r.out_grad = ctx.empty({batch, out}, DType::F32, device, kOp);
  if (options.teacher_grad) r.teacher_grad = ctx.empty({batch, out}, DType::F32, device, kOp);

  const kernels::GemmParams first =
      matmul(x.dtype, DType::F32, x.data(), false, w1.data(), true, r.pre.data(), batch, hidden, in);
  kernels::DistillHiddenParams h;
  h.dtype = x.dtype;
  h.activation = options.activation;
  h.slope = options.slope;
  h.pre = r.pre.data_as<float>();
  h.bias = b1.data();
  h.ln_weight = ln_weight ? ln_weight->data() : nullptr;
  h.ln_bias = ln_bias ? ln_bias->data() : nullptr;
  h.mean = ln_weight ? r.mean.data_as<float>() : nullptr;
  h.rstd = ln_weight ? r.rstd.data_as<float>() : nullptr;
  h.hidden = r.hidden.data();
  h.rows = batch;
  h.cols = hidden;
  h.eps = options.ln_eps;
  const kernels::GemmParams second = matmul(x.dtype, DType::F32, r.hidden.data(), false, w2.data(), true,
                                            r.out_grad.data(), batch, out, hidden);
  kernels::DistillLossParams l;
  l.dtype = x.dtype;
  l.loss = options.loss;
  l.out = r.out_grad.data_as<float>();
  l.bias = b2.data();
  l.teacher = teacher.data();
  l.teacher_grad = options.teacher_grad ? r.teacher_grad.data_as<float>() : nullptr;
  l.loss_value = r.loss.data_as<float>();
  l.rows = batch;
  l.cols = out;

  submit(ctx, device, kOp,
         {&x, &w1, &b1, &w2, &b2, &teacher, ln_weight, ln_bias, &r.loss, &r.pre, &r.mean, &r.rstd, &r.hidden,
          &r.out_grad, &r.teacher_grad},
         [first, h, second, l](const Exec& exec) {
           run_gemm(exec, first);
           LLMREC_TWINS(distill_hidden_forward)(h, exec);
           run_gemm(exec, second);
           LLMREC_TWINS(distill_loss)(l, exec);
         });
  return r;
}

MlpDistillGrads mlp_distill_backward(Context& ctx, const Tensor& grad_loss, const Tensor& x, const Tensor& w1,
                                     const Tensor& w2, const Tensor* ln_weight, const Tensor* ln_bias,
                                     const MlpDistillForward& saved, const MlpDistillOptions& options,
                                     bool want_x_grad) {
  const char* op = "mlpDistill backward";
  if (grad_loss.dtype != DType::F32 || grad_loss.numel != 1)
    fail(op, ": 'gradLoss' must be one f32 value but is ", dtype_name(grad_loss.dtype),
         shape_str(grad_loss.shape));
  expect_matrix(op, "x", x);
  expect_matrix(op, "w1", w1);
  expect_matrix(op, "w2", w2);
  const int64_t batch = x.shape[0], in = x.shape[1], hidden = w1.shape[0], out = w2.shape[0];
  expect_shape(op, "w1", w1, {hidden, in}, "([hidden, in])");
  expect_shape(op, "w2", w2, {out, hidden}, "([out, hidden])");
  expect_shape(op, "pre", saved.pre, {batch, hidden}, "([batch, hidden])");
  expect_shape(op, "hidden", saved.hidden, {batch, hidden}, "([batch, hidden])");
  expect_shape(op, "outGrad", saved.out_grad, {batch, out}, "([batch, out])");
  expect_dtype(op, "w1", w1, x.dtype, "x");
  expect_dtype(op, "w2", w2, x.dtype, "x");
  expect_dtype(op, "hidden", saved.hidden, x.dtype, "x");
  expect_dtype(op, "pre", saved.pre, DType::F32, "gradLoss");
  expect_dtype(op, "outGrad", saved.out_grad, DType::F32, "gradLoss");
  const bool ln = ln_weight != nullptr;
  if (ln != (ln_bias != nullptr) || ln != saved.mean.defined() || ln != saved.rstd.defined())
    fail(op, ": LayerNorm needs 'lnWeight', 'lnBias', 'mean' and 'rstd' together");
  if (ln) {
    expect_shape(op, "lnWeight", *ln_weight, {hidden}, "([hidden])");
    expect_shape(op, "lnBias", *ln_bias, {hidden}, "([hidden])");
    expect_shape(op, "mean", saved.mean, {batch}, "([batch])");
    expect_shape(op, "rstd", saved.rstd, {batch}, "([batch])");
    expect_dtype(op, "lnWeight", *ln_weight, x.dtype, "x");
    expect_dtype(op, "lnBias", *ln_bias, x.dtype, "x");
  }
  const bool teacher = options.teacher_grad;
  if (teacher != saved.teacher_grad.defined())
    fail(op, ": 'teacherGrad' must be given exactly when the teacher's gradient is wanted");
  if (teacher) expect_shape(op, "teacherGrad", saved.teacher_grad, {batch, out}, "([batch, out])");
  const Device device = x.device();
  expect_device(op, device,
                {{"gradLoss", &grad_loss},
                 {"w1", &w1},
                 {"w2", &w2},
                 {"lnWeight", ln_weight},
                 {"lnBias", ln_bias},
                 {"pre", &saved.pre},
                 {"mean", &saved.mean},
                 {"rstd", &saved.rstd},
                 {"hidden", &saved.hidden},
                 {"outGrad", &saved.out_grad},
                 {"teacherGrad", &saved.teacher_grad}});

  const DType dtype = x.dtype;
  MlpDistillGrads g;
  g.w1 = ctx.empty(w1.shape, dtype, device, op);
  g.b1 = ctx.empty({hidden}, dtype, device, op);
  g.w2 = ctx.empty(w2.shape, dtype, device, op);
  g.b2 = ctx.empty({out}, dtype, device, op);
  if (ln) {
    g.ln_weight = ctx.empty({hidden}, dtype, device, op);
    g.ln_bias = ctx.empty({hidden}, dtype, device, op);
  }
  if (teacher) g.teacher = ctx.empty({batch, out}, dtype, device, op);
  if (want_x_grad) g.x = ctx.empty(x.shape, dtype, device, op);
  // Intermediates; the allocators reuse their blocks only for work queued after this op's.
  const Tensor out_grad_scaled = ctx.empty({batch, out}, dtype, device, op);
  const Tensor grad_hidden = ctx.empty({batch, hidden}, DType::F32, device, op);
  const Tensor grad_pre = ctx.empty({batch, hidden}, dtype, device, op);

  kernels::DistillOutputGradParams o;
  o.dtype = dtype;
  o.grad_loss = grad_loss.data_as<float>();
  o.out_grad = saved.out_grad.data_as<float>();
  o.teacher_grad = teacher ? saved.teacher_grad.data_as<float>() : nullptr;
  o.out_grad_scaled = out_grad_scaled.data();
  o.bias_grad = g.b2.data();
  o.teacher_grad_scaled = teacher ? g.teacher.data() : nullptr;
  o.rows = batch;
  o.cols = out;
  // dW2 = dY^T hidden; dHidden = dY W2.
  const kernels::GemmParams w2_grad = matmul(dtype, dtype, out_grad_scaled.data(), true, saved.hidden.data(),
                                             false, g.w2.data(), out, hidden, batch);
  const kernels::GemmParams hidden_grad = matmul(dtype, DType::F32, out_grad_scaled.data(), false, w2.data(),
                                                 false, grad_hidden.data(), batch, hidden, out);
  kernels::DistillHiddenBackwardParams h;
  h.dtype = dtype;
  h.activation = options.activation;
  h.slope = options.slope;
  h.grad_hidden = grad_hidden.data_as<float>();
  h.pre = saved.pre.data_as<float>();
  h.ln_weight = ln ? ln_weight->data() : nullptr;
  h.ln_bias = ln ? ln_bias->data() : nullptr;
  h.mean = ln ? saved.mean.data_as<float>() : nullptr;
  h.rstd = ln ? saved.rstd.data_as<float>() : nullptr;
  h.grad_pre = grad_pre.data();
  h.grad_bias = g.b1.data();
  h.grad_ln_weight = ln ? g.ln_weight.data() : nullptr;
  h.grad_ln_bias = ln ? g.ln_bias.data() : nullptr;
  h.rows = batch;
  h.cols = hidden;
  // dW1 = dPre^T x; dx = dPre W1.
  const kernels::GemmParams w1_grad =
      matmul(dtype, dtype, grad_pre.data(), true, x.data(), false, g.w1.data(), hidden, in, batch);
  const kernels::GemmParams x_grad = matmul(dtype, dtype, grad_pre.data(), false, w1.data(), false,
                                            want_x_grad ? g.x.data() : nullptr, batch, in, hidden);

  submit(ctx, device, op,
         {&grad_loss,
          &x,
          &w1,
          &w2,
          ln_weight,
          ln_bias,
          &saved.pre,
          &saved.mean,
          &saved.rstd,
          &saved.hidden,
          &saved.out_grad,
          &saved.teacher_grad,
          &g.x,
          &g.w1,
          &g.b1,
          &g.w2,
          &g.b2,
          &g.ln_weight,
          &g.ln_bias,
          &g.teacher,
          &out_grad_scaled,
          &grad_hidden,
          &grad_pre},
         [o, w2_grad, hidden_grad, h, w1_grad, x_grad, want_x_grad](const Exec& exec) {
           LLMREC_TWINS(distill_output_grad)(o, exec);
           run_gemm(exec, w2_grad);
           run_gemm(exec, hidden_grad);
           LLMREC_TWINS(distill_hidden_backward)(h, exec);
           run_gemm(exec, w1_grad);
           if (want_x_grad) run_gemm(exec, x_grad);
         });
  return g;
}

}  // namespace llmrec::ops

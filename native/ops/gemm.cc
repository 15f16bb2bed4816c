#include "gemm.h"

#include <string>

#include "../abi/error.h"
#include "../core/dispatch.h"

namespace llmrec::ops {
using kernels::Activation;

const char* activation_name(Activation activation) {
  return enum_name(kernels::kActivationNames, activation, "activation");
}

namespace {

const char* bool_str(bool v) { return v ? "true" : "false"; }

struct MatrixView {
  int64_t batch = 1, rows = 0, cols = 0;  // as stored
  bool batched = false;
};

MatrixView matrix_view(const Tensor& t, const char* arg) {
  if (t.dim() != 2 && t.dim() != 3)
    fail("gemm: '", arg, "' must be a matrix [rows, cols] or a stack of them [batch, rows, cols], got shape ",
         shape_str(t.shape));
  MatrixView v;
  v.batched = t.dim() == 3;
  v.batch = v.batched ? t.shape[0] : 1;
  v.rows = t.shape[size_t(t.dim() - 2)];
  v.cols = t.shape[size_t(t.dim() - 1)];
  return v;
}

}  // namespace

GemmResult gemm(Context& ctx, const Tensor& a, const Tensor& b, const Tensor* c, const Tensor* bias,
                const GemmOptions& options) {
  if (!is_floating(a.dtype) || a.dtype != b.dtype)
    fail("gemm: 'a' and 'b' must both be f32 or both bf16, got ", dtype_name(a.dtype), " and ",
         dtype_name(b.dtype));
  const DType out_dtype = options.out_dtype.value_or(a.dtype);
  if (!is_floating(out_dtype))
    fail("gemm: the output dtype must be f32 or bf16, got ", dtype_name(out_dtype));
  const Device device = a.device();
  expect_device("gemm", device, {{"b", &b}});
  if (c) expect_device("gemm", device, {{"c", c}});
  if (bias) expect_device("gemm", device, {{"bias", bias}});

  const MatrixView va = matrix_view(a, "a"), vb = matrix_view(b, "b");
  const int64_t m = options.trans_a ? va.cols : va.rows;
  const int64_t k = options.trans_a ? va.rows : va.cols;
  const int64_t kb = options.trans_b ? vb.cols : vb.rows;
  const int64_t n = options.trans_b ? vb.rows : vb.cols;
  if (k != kb)
    fail("gemm: inner dimensions differ: A is ",
         options.trans_a ? "[k,m]=" : "[m,k]=", shape_str({va.rows, va.cols}),
         " (transA=", bool_str(options.trans_a), "), B is ",
         options.trans_b ? "[n,k]=" : "[k,n]=", shape_str({vb.rows, vb.cols}),
         " (transB=", bool_str(options.trans_b), ")");
  if (va.batch != vb.batch && va.batch != 1 && vb.batch != 1)
    fail("gemm: batch sizes differ: 'a' is ", shape_str(a.shape), " and 'b' is ", shape_str(b.shape),
         "; they must match, or one must be a single matrix");
  const int64_t batch = std::max(va.batch, vb.batch);
  const bool batched = va.batched || vb.batched;
  const Shape out_shape = batched ? Shape{batch, m, n} : Shape{m, n};

  if (options.beta != 0.0f && c == nullptr)
    fail("gemm: beta is ", options.beta, " but no 'c' was given; pass c, or beta = 0");
  if (c && (c->shape != out_shape || c->dtype != out_dtype))
    fail("gemm: 'c' must be ", dtype_name(out_dtype), shape_str(out_shape), " like the result, got ",
         dtype_name(c->dtype), shape_str(c->shape));
  if (bias && (bias->shape != Shape{n} || bias->dtype != out_dtype))
    fail("gemm: 'bias' must be ", dtype_name(out_dtype), shape_str({n}), " (one per output column), got ",
         dtype_name(bias->dtype), shape_str(bias->shape));

  GemmResult result;
  result.out = ctx.empty(out_shape, out_dtype, device, "gemm");
  const bool keep_pre = options.keep_pre_activation && options.activation != Activation::None;
  if (keep_pre) result.pre_activation = ctx.empty(out_shape, out_dtype, device, "gemm");

  kernels::GemmParams p;
  p.ab_dtype = a.dtype;
  p.c_dtype = out_dtype;
  p.trans_a = options.trans_a;
  p.trans_b = options.trans_b;
  p.m = m;
  p.n = n;
  p.k = k;
  p.batch = batch;
  p.a = a.data();
  p.lda = va.cols;
  p.stride_a = va.batch == 1 ? 0 : va.rows * va.cols;
  p.b = b.data();
  p.ldb = vb.cols;
  p.stride_b = vb.batch == 1 ? 0 : vb.rows * vb.cols;
  p.c = (c && options.beta != 0.0f) ? c->data() : nullptr;
  p.out = result.out.data();
  p.ldc = n;
  p.stride_c = m * n;
  p.pre_activation = keep_pre ? result.pre_activation.data() : nullptr;
  p.bias = bias ? bias->data() : nullptr;
  p.alpha = options.alpha;
  p.beta = options.beta;
  p.activation = options.activation;
  if (result.out.numel == 0) return result;

  submit_twins(ctx, device, "gemm", {&a, &b, c, bias, &result.out, &result.pre_activation},
               LLMREC_TWINS(gemm), p);
  return result;
}

Tensor epilogue_backward(Context& ctx, Activation activation, const Tensor& pre_activation,
                         const Tensor& grad) {
  const char* name = "epilogueBackward";
  if (!is_floating(grad.dtype) || grad.dtype != pre_activation.dtype || grad.shape != pre_activation.shape)
    fail(name, ": 'grad' is ", dtype_name(grad.dtype), shape_str(grad.shape), " but 'preActivation' is ",
         dtype_name(pre_activation.dtype), shape_str(pre_activation.shape),
         "; they must match and be f32 or bf16");
  const Device device = grad.device();
  expect_device(name, device, {{"preActivation", &pre_activation}});
  Tensor result = ctx.empty(grad.shape, grad.dtype, device, name);
  const kernels::EpilogueBackwardParams p{grad.dtype,  activation,    pre_activation.data(),
                                          grad.data(), result.data(), grad.numel};
  if (p.numel == 0) return result;
  submit_twins(ctx, device, name, {&pre_activation, &grad, &result}, LLMREC_TWINS(epilogue_backward), p);
  return result;
}

}  // namespace llmrec::ops

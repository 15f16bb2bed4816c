#include "attention.h"

#include <algorithm>
#include <cmath>

#include "../abi/error.h"
#include "../core/dispatch.h"

namespace llmrec::ops {
namespace {

const int kKeyLengthSite = register_kernel_error_site(
    "attention: keyPadding length {limit} of batch row {value} is out of range; each must be in [0, the key "
    "length]");

// The CUDA kernels give each lane of a warp at most four dims of a row's accumulators (registers).
constexpr int64_t kMaxCudaHeadDim = 128;

void expect_floating(const char* op, const char* arg, const Tensor& t) {
  if (!is_floating(t.dtype))
    fail(op, ": '", arg, "' must be f32 or bf16, got ", dtype_name(t.dtype), shape_str(t.shape));
}

void expect_rank(const char* op, const char* arg, const Tensor& t, int64_t rank, const char* layout) {
  if (t.dim() != rank) fail(op, ": '", arg, "' must be ", rank, "-D ", layout, ", got ", shape_str(t.shape));
}

void expect_same(const char* op, const char* arg, const Tensor& t, const char* ref_arg, const Tensor& ref) {
  if (t.dtype != ref.dtype)
    fail(op, ": '", arg, "' is ", dtype_name(t.dtype), " but '", ref_arg, "' is ", dtype_name(ref.dtype),
         "; cast them to one dtype first");
  if (t.shape != ref.shape)
    fail(op, ": '", arg, "' has shape ", shape_str(t.shape), " but '", ref_arg, "' has shape ",
         shape_str(ref.shape), "; they must match");
}

// Checks q, k, v and the options and fills the kernel's shape description.
kernels::AttentionShape plan(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionOptions& o) {
  expect_rank(op, "q", q, 4, "[B, Hq, Lq, D]");
  expect_rank(op, "k", k, 4, "[B, Hkv, Lk, D]");
  expect_rank(op, "v", v, 4, "[B, Hkv, Lk, D]");
  expect_floating(op, "q", q);
  if (k.dtype != q.dtype || v.dtype != q.dtype)
    fail(op, ": q, k and v must share a dtype, got q ", dtype_name(q.dtype), ", k ", dtype_name(k.dtype),
         ", v ", dtype_name(v.dtype), "; cast them to one dtype first");
  if (k.shape != v.shape)
    fail(op, ": 'k' ", shape_str(k.shape), " and 'v' ", shape_str(v.shape), " must have the same shape");
  if (k.shape[0] != q.shape[0])
    fail(op, ": 'q' ", shape_str(q.shape), " and 'k' ", shape_str(k.shape), " have different batch sizes");
  if (k.shape[3] != q.shape[3])
    fail(op, ": 'q' ", shape_str(q.shape), " and 'k' ", shape_str(k.shape), " have different head dims");
  if (k.shape[1] == 0 || q.shape[1] % k.shape[1] != 0)
    fail(op, ": the query heads of 'q' ", shape_str(q.shape), " must be a multiple of the kv heads of 'k' ",
         shape_str(k.shape), " (grouped-query attention)");
  const Device device = q.device();
  expect_device(op, device, {{"k", &k}, {"v", &v}});
  if (device.is_cuda() && q.shape[3] > kMaxCudaHeadDim)
    fail(op, ": head dim ", q.shape[3], " of 'q' ", shape_str(q.shape),
         " is above the CUDA kernels' limit of ", kMaxCudaHeadDim);
  if (!(o.dropout >= 0.0f && o.dropout < 1.0f)) fail(op, ": dropout must be in [0, 1), got ", o.dropout);
  kernels::AttentionShape s;
  static_cast<AttentionOptions&>(s) = o;
  s.dtype = q.dtype;
  s.batch = q.shape[0];
  s.q_heads = q.shape[1];
  s.q_len = q.shape[2];
  s.head_dim = q.shape[3];
  s.kv_heads = k.shape[1];
  s.kv_len = k.shape[2];
  const double scale = o.requested_scale.value_or(1.0 / std::sqrt(double(std::max<int64_t>(s.head_dim, 1))));
  if (!std::isfinite(scale)) fail(op, ": scale must be finite, got ", scale);
  s.scale = float(scale);
  if (o.key_lengths_tensor != nullptr) {
    const Tensor& lengths = *o.key_lengths_tensor;
    if (lengths.dtype != DType::I32 || lengths.shape != Shape{s.batch})
      fail(op, ": 'keyLengths' must be i32 [", s.batch, "] (one valid length per batch row), got ",
           dtype_name(lengths.dtype), shape_str(lengths.shape));
    expect_device(op, device, {{"keyLengths", &lengths}});
    s.key_lengths = lengths.data_as<int32_t>();
    s.key_lengths_error_site = kKeyLengthSite;
  } else {
    s.left_padding = false;
  }
  return s;
}

}  // namespace

std::pair<Tensor, Tensor> attention_forward(Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                                            const AttentionOptions& options) {
  const char* op = "attention";
  kernels::AttentionForwardParams p;
  p.shape = plan(op, q, k, v, options);
  const Device device = q.device();
  Tensor out = ctx.empty(q.shape, q.dtype, device, op);
  Tensor lse = ctx.empty({p.shape.batch, p.shape.q_heads, p.shape.q_len}, DType::F32, device, op);
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  p.lse = lse.data_as<float>();
  if (out.numel == 0) return {out, lse};
  if (p.shape.kv_len == 0) p.shape.key_lengths = nullptr;  // nothing to read; every row is empty
  const Tensor* lengths = options.key_lengths_tensor;
  submit_twins(ctx, device, op, {&q, &k, &v, &out, &lse, lengths != nullptr ? lengths : &q},
               LLMREC_TWINS(attention_forward), p);
  return {out, lse};
}

std::tuple<Tensor, Tensor, Tensor> attention_backward(Context& ctx, const Tensor& q, const Tensor& k,
                                                      const Tensor& v, const Tensor& out, const Tensor& lse,
                                                      const Tensor& grad_out,
                                                      const AttentionOptions& options) {
  const char* op = "attention backward";
  kernels::AttentionBackwardParams p;
  p.shape = plan(op, q, k, v, options);
  expect_same(op, "out", out, "q", q);
  expect_same(op, "gradOut", grad_out, "q", q);
  const Shape row_shape{p.shape.batch, p.shape.q_heads, p.shape.q_len};
  if (lse.dtype != DType::F32 || lse.shape != row_shape)
    fail(op, ": 'lse' must be f32", shape_str(row_shape), " (saved by the forward pass), got ",
         dtype_name(lse.dtype), shape_str(lse.shape));
  const Device device = q.device();
  expect_device(op, device, {{"out", &out}, {"lse", &lse}, {"gradOut", &grad_out}});
  Tensor grad_q = ctx.empty(q.shape, q.dtype, device, op);
  Tensor grad_k = ctx.empty(k.shape, k.dtype, device, op);
  Tensor grad_v = ctx.empty(v.shape, v.dtype, device, op);
  Tensor delta = ctx.empty(row_shape, DType::F32, device, op);
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  p.grad_out = grad_out.data();
  p.lse = lse.data_as<float>();
  p.delta = delta.data_as<float>();
  p.grad_q = grad_q.data();
  p.grad_k = grad_k.data();
  p.grad_v = grad_v.data();
  if (grad_q.numel == 0 && grad_k.numel == 0) return {grad_q, grad_k, grad_v};
  const Tensor* lengths = options.key_lengths_tensor;
  submit_twins(ctx, device, op,
               {&q, &k, &v, &out, &lse, &grad_out, &grad_q, &grad_k, &grad_v, &delta,
                lengths != nullptr ? lengths : &q},
               LLMREC_TWINS(attention_backward), p);
  return {grad_q, grad_k, grad_v};
}

Tensor rope(Context& ctx, const Tensor& x, const Tensor& positions, double theta, bool inverse) {
  const char* op = "rope";
  expect_rank(op, "x", x, 4, "[B, H, L, D]");
  expect_floating(op, "x", x);
  const int64_t B = x.shape[0], L = x.shape[2], D = x.shape[3];
  if (D % 2 != 0) fail(op, ": the head dim of 'x' ", shape_str(x.shape), " must be even (rotate-half)");
  const bool per_batch = positions.shape == Shape{B, L};
  if (positions.dtype != DType::I32 || !(per_batch || positions.shape == Shape{L}))
    fail(op, ": 'positions' must be i32 [", L, "] or [", B, ", ", L, "] for 'x' ", shape_str(x.shape),
         ", got ", dtype_name(positions.dtype), shape_str(positions.shape));
  if (!(theta > 0.0) || !std::isfinite(theta)) fail(op, ": theta must be a positive number, got ", theta);
  const Device device = x.device();
  expect_device(op, device, {{"positions", &positions}});
  Tensor out = ctx.empty(x.shape, x.dtype, device, op);
  kernels::RopeParams p;
  p.dtype = x.dtype;
  p.x = x.data();
  p.out = out.data();
  p.positions = positions.data_as<int32_t>();
  p.positions_per_batch = per_batch;
  p.batch = B;
  p.heads = x.shape[1];
  p.len = L;
  p.head_dim = D;
  p.theta = theta;
  p.inverse = inverse;
  if (out.numel == 0) return out;
  submit_twins(ctx, device, op, {&x, &positions, &out}, LLMREC_TWINS(rope), p);
  return out;
}

}  // namespace llmrec::ops

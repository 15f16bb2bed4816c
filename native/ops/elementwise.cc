#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../abi/error.h"
#include "../core/dispatch.h"
#include "../cpu/parallel.h"
#ifdef LLMREC_WITH_CUDA
#include "../core/cuda_backend.h"
#endif

namespace llmrec::ops {
using kernels::BinaryOp;
using kernels::ReduceOp;
using kernels::UnaryOp;

const char* binary_op_name(BinaryOp op) { return enum_name(kernels::kBinaryOpNames, op, "binary"); }
const char* unary_op_name(UnaryOp op) { return enum_name(kernels::kUnaryOpNames, op, "unary"); }
const char* reduce_op_name(ReduceOp op) { return enum_name(kernels::kReduceOpNames, op, "reduce"); }

namespace {

void expect_output(const char* op, const Tensor& out, const Shape& shape, DType dtype, const Device& device) {
  if (out.shape != shape || out.dtype != dtype || out.device() != device)
    fail(op, ": 'out' is ", dtype_name(out.dtype), shape_str(out.shape), " on ", out.device().str(),
         " but the result is ", dtype_name(dtype), shape_str(shape), " on ", device.str());
}

// Fills the broadcast description of a binary op: output extents and per-operand strides with
// adjacent axes merged wherever both operands stay contiguous across them.
void plan_broadcast(const char* op, const Shape& a, const Shape& b, Shape* out_shape,
                    kernels::BinaryParams* p) {
  const size_t ndim = std::max(a.size(), b.size());
  Shape ea(ndim, 1), eb(ndim, 1), eo(ndim, 1);
  std::copy(a.begin(), a.end(), ea.begin() + long(ndim - a.size()));
  std::copy(b.begin(), b.end(), eb.begin() + long(ndim - b.size()));
  for (size_t d = 0; d < ndim; ++d) {
    if (ea[d] != eb[d] && ea[d] != 1 && eb[d] != 1)
      fail(op, ": shapes ", shape_str(a), " (a) and ", shape_str(b),
           " (b) cannot be broadcast together: axis ", d, " has ", ea[d], " vs ", eb[d]);
    eo[d] = ea[d] == 1 ? eb[d] : ea[d];
  }
  *out_shape = eo;
  if (a == b) {
    p->ndim = 0;
    return;
  }
  // Contiguous strides, zeroed along broadcast axes; then drop size-1 axes and merge.
  std::vector<int64_t> sa(ndim), sb(ndim);
  int64_t ra = 1, rb = 1;
  for (size_t d = ndim; d-- > 0;) {
    sa[d] = ea[d] == 1 ? 0 : ra;
    sb[d] = eb[d] == 1 ? 0 : rb;
    ra *= ea[d];
    rb *= eb[d];
  }
  std::vector<int64_t> shape, stride_a, stride_b;
  for (size_t d = 0; d < ndim; ++d) {
    if (eo[d] == 1) continue;
    if (!shape.empty() && stride_a.back() == sa[d] * eo[d] && stride_b.back() == sb[d] * eo[d]) {
      shape.back() *= eo[d];
      stride_a.back() = sa[d];
      stride_b.back() = sb[d];
    } else {
      shape.push_back(eo[d]);
      stride_a.push_back(sa[d]);
      stride_b.push_back(sb[d]);
    }
  }
  if (shape.empty()) {  // every axis has extent 1
    shape.push_back(1);
    stride_a.push_back(0);
    stride_b.push_back(0);
  }
  if (shape.size() > size_t(kernels::kMaxBroadcastDims))
    fail(op, ": broadcasting ", shape_str(a), " with ", shape_str(b), " needs ", shape.size(),
         " axes after merging; at most ", kernels::kMaxBroadcastDims, " are supported");
  p->ndim = int(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    p->out_shape[d] = shape[d];
    p->a_strides[d] = stride_a[d];
    p->b_strides[d] = stride_b[d];
  }
}

}  // namespace

Tensor binary(Context& ctx, BinaryOp op, const Tensor& a, const Tensor& b, const Tensor* out) {
  const char* name = binary_op_name(op);
  if (a.dtype != b.dtype)
    fail(name, ": 'a' is ", dtype_name(a.dtype), " but 'b' is ", dtype_name(b.dtype),
         "; cast one of them first, e.g. b.cast('", dtype_name(a.dtype), "')");
  const Device device = a.device();
  expect_device(name, device, {{"b", &b}});
  kernels::BinaryParams p;
  Shape out_shape;
  plan_broadcast(name, a.shape, b.shape, &out_shape, &p);
  Tensor result;
  if (out != nullptr) {
    expect_output(name, *out, out_shape, a.dtype, device);
    result = *out;
  } else {
    result = ctx.empty(out_shape, a.dtype, device, name);
  }
  p.op = op;
  p.dtype = a.dtype;
  p.a = a.data();
  p.b = b.data();
  p.out = result.data();
  p.numel = result.numel;
  if (p.numel == 0) return result;
  submit_twins(ctx, device, name, {&a, &b, &result}, LLMREC_TWINS(binary), p);
  return result;
}

Tensor unary(Context& ctx, UnaryOp op, const Tensor& x, float alpha, float beta, const Tensor* out) {
  const char* name = unary_op_name(op);
  if (x.dtype == DType::I32 && !kernels::unary_exact_on_i32(op))
    fail(name, ": needs a floating tensor but got i32; cast it first with .cast('f32')");
  const Device device = x.device();
  Tensor result;
  if (out != nullptr) {
    expect_output(name, *out, x.shape, x.dtype, device);
    result = *out;
  } else {
    result = ctx.empty(x.shape, x.dtype, device, name);
  }
  const kernels::UnaryParams p{op, x.dtype, x.data(), result.data(), x.numel, alpha, beta};
  if (p.numel == 0) return result;
  submit_twins(ctx, device, name, {&x, &result}, LLMREC_TWINS(unary), p);
  return result;
}

Tensor cast(Context& ctx, const Tensor& x, DType to) {
  const Device device = x.device();
  Tensor result = ctx.empty(x.shape, to, device, "cast");
  kernels::CastParams p;
  p.from = x.dtype;
  p.to = to;
  p.x = x.data();
  p.out = result.data();
  p.numel = x.numel;
  if (p.numel == 0) return result;
  submit_twins(ctx, device, "cast", {&x, &result}, LLMREC_TWINS(cast), p);
  return result;
}

void fill(Context& ctx, const Tensor& out, double value) {
  kernels::FillParams p;
  p.dtype = out.dtype;
  p.out = out.data();
  p.numel = out.numel;
  p.value = value;
  if (p.numel == 0) return;
  submit_twins(ctx, out.device(), "fill", {&out}, LLMREC_TWINS(fill), p);
}

Tensor reduce(Context& ctx, ReduceOp op, const Tensor& x, std::optional<int64_t> axis, bool keep_dims) {
  const char* name = reduce_op_name(op);
  if (!is_floating(x.dtype))
    fail(name, ": needs a floating tensor but got ", dtype_name(x.dtype),
         "; cast it first with .cast('f32')");
  kernels::ReduceParams p;
  Shape out_shape;
  if (!axis) {
    p.outer = 1;
    p.extent = x.numel;
    p.inner = 1;
    if (keep_dims) out_shape.assign(x.shape.size(), 1);
  } else {
    const int64_t ndim = x.dim();
    int64_t a = *axis < 0 ? *axis + ndim : *axis;
    if (a < 0 || a >= ndim)
      fail(name, ": axis ", *axis, " is out of range for a tensor of shape ", shape_str(x.shape));
    p.outer = 1;
    p.inner = 1;
    for (int64_t d = 0; d < a; ++d) p.outer *= x.shape[size_t(d)];
    for (int64_t d = a + 1; d < ndim; ++d) p.inner *= x.shape[size_t(d)];
    p.extent = x.shape[size_t(a)];
    out_shape = x.shape;
    if (keep_dims)
      out_shape[size_t(a)] = 1;
    else
      out_shape.erase(out_shape.begin() + a);
  }
  const Device device = x.device();
  Tensor result = ctx.empty(out_shape, x.dtype, device, name);
  if (result.numel == 0) return result;
  if (p.extent == 0) {
    if (op == ReduceOp::Max || op == ReduceOp::Min)
      fail(name, ": cannot reduce over an empty axis of a tensor of shape ", shape_str(x.shape));
    fill(ctx, result, op == ReduceOp::Sum ? 0.0 : std::nan(""));
    return result;
  }
  p.op = op;
  p.dtype = x.dtype;
  p.x = x.data();
  p.out = result.data();
  submit_twins(ctx, device, name, {&x, &result}, LLMREC_TWINS(reduce), p);
  return result;
}

Tensor expand(Context& ctx, const Tensor& x, const Shape& shape) {
  // x + 0 with the zero shaped like the target: the broadcasting binary kernel does the copy.
  Tensor zero = ctx.empty(shape, x.dtype, x.device(), "expand");
  fill(ctx, zero, 0.0);
  Shape result_shape;
  kernels::BinaryParams probe;
  plan_broadcast("expand", x.shape, shape, &result_shape, &probe);
  if (result_shape != shape)
    fail("expand: a tensor of shape ", shape_str(x.shape), " cannot be expanded to ", shape_str(shape));
  return binary(ctx, BinaryOp::Add, x, zero, &zero);
}

Tensor random(Context& ctx, const Shape& shape, DType dtype, const Device& device,
              kernels::RandomDistribution distribution, float a, float b, uint64_t seed, uint64_t offset) {
  const char* name = distribution == kernels::RandomDistribution::Uniform ? "rand" : "randn";
  if (!is_floating(dtype)) fail(name, ": dtype must be f32 or bf16, got ", dtype_name(dtype));
  Tensor result = ctx.empty(shape, dtype, device, name);
  kernels::RandomParams p;
  p.distribution = distribution;
  p.dtype = dtype;
  p.out = result.data();
  p.numel = result.numel;
  p.seed = seed;
  p.offset = offset;
  if (distribution == kernels::RandomDistribution::Uniform) {
    p.low = a;
    p.high = b;
  } else {
    p.mean = a;
    p.stddev = b;
  }
  if (p.numel == 0) return result;
  submit_twins(ctx, device, name, {&result}, LLMREC_TWINS(random), p);
  return result;
}

}  // namespace llmrec::ops

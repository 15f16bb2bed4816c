#include "topk.h"

#include "../abi/error.h"
#include "../core/dispatch.h"

namespace llmrec::ops {

namespace {

void check_k(const char* op, int64_t k, int64_t n, const char* what, const Shape& shape) {
  if (k < 1) fail(op, ": 'k' must be at least 1, got ", k);
  if (k > kernels::kMaxTopk)
    fail(op, ": 'k' = ", k, " is above the supported maximum of ", kernels::kMaxTopk);
  if (k > n) fail(op, ": 'k' = ", k, " is larger than ", what, " ", shape_str(shape), " (", n, ")");
}

}  // namespace

std::pair<Tensor, Tensor> topk(Context& ctx, const Tensor& x, int64_t k) {
  if (!is_floating(x.dtype)) fail("topk: 'x' must be f32 or bf16, got ", dtype_name(x.dtype));
  if (x.dim() < 1) fail("topk: 'x' needs at least one axis, got a scalar");
  const int64_t n = x.shape.back();
  check_k("topk", k, n, "the last axis of 'x'", x.shape);
  Shape out_shape = x.shape;
  out_shape.back() = k;
  const Device device = x.device();
  Tensor values = ctx.empty(out_shape, x.dtype, device, "topk");
  Tensor indices = ctx.empty(out_shape, DType::I32, device, "topk");
  kernels::TopkParams p;
  p.dtype = x.dtype;
  p.x = x.data();
  p.values = values.data();
  p.indices = indices.data_as<int32_t>();
  p.rows = n == 0 ? 0 : x.numel / n;
  p.n = n;
  p.k = int(k);
  if (p.rows == 0) return {values, indices};
  submit_twins(ctx, device, "topk", {&x, &values, &indices}, LLMREC_TWINS(topk), p);
  return {values, indices};
}

std::pair<Tensor, Tensor> score_topk(Context& ctx, const Tensor& queries, const Tensor& items, int64_t k,
                                     const Tensor* exclude_offsets, const Tensor* exclude_ids,
                                     bool exclude_padding) {
  const char* op = "scoreTopk";
  if (queries.dim() != 2 || items.dim() != 2 || queries.shape[1] != items.shape[1])
    fail(op, ": 'queries' must be [users, dim] and 'items' [numItems, dim] with the same dim, got ",
         shape_str(queries.shape), " and ", shape_str(items.shape));
  if (!is_floating(queries.dtype) || queries.dtype != items.dtype)
    fail(op, ": 'queries' and 'items' must both be f32 or both bf16, got ", dtype_name(queries.dtype),
         " and ", dtype_name(items.dtype));
  check_k(op, k, items.shape[0], "the number of items in 'items'", items.shape);
  if ((exclude_offsets == nullptr) != (exclude_ids == nullptr))
    fail(op, ": 'excludeOffsets' and 'excludeIds' go together; pass both or neither");
  const int64_t users = queries.shape[0];
  if (exclude_offsets) {
    if (exclude_offsets->dtype != DType::I32 || exclude_offsets->shape != Shape{users + 1})
      fail(op, ": 'excludeOffsets' must be i32[", users + 1, "] (one more than the number of queries), got ",
           dtype_name(exclude_offsets->dtype), shape_str(exclude_offsets->shape));
    if (exclude_ids->dtype != DType::I32 || exclude_ids->dim() != 1)
      fail(op, ": 'excludeIds' must be a 1-D i32 tensor, got ", dtype_name(exclude_ids->dtype),
           shape_str(exclude_ids->shape));
  }
  const Device device = queries.device();
  expect_device(op, device, {{"items", &items}});
  if (exclude_offsets)
    expect_device(op, device, {{"excludeOffsets", exclude_offsets}, {"excludeIds", exclude_ids}});
  if (device.is_cuda() && queries.shape[1] > kernels::kMaxScoreTopkDimCuda)
    fail(op, ": dim ", queries.shape[1], " is above the ", kernels::kMaxScoreTopkDimCuda,
         " the CUDA kernel supports; score in slices of the catalogue with gemm and topk instead");
  Tensor values = ctx.empty({users, k}, DType::F32, device, op);
  Tensor indices = ctx.empty({users, k}, DType::I32, device, op);
  kernels::ScoreTopkParams p;
  p.dtype = queries.dtype;
  p.queries = queries.data();
  p.items = items.data();
  p.users = users;
  p.num_items = items.shape[0];
  p.dim = queries.shape[1];
  p.k = int(k);
  p.exclude_offsets = exclude_offsets ? exclude_offsets->data_as<int32_t>() : nullptr;
  p.exclude_ids = exclude_ids ? exclude_ids->data_as<int32_t>() : nullptr;
  p.exclude_count = exclude_ids ? exclude_ids->numel : 0;
  p.exclude_padding = exclude_padding;
  p.values = values.data_as<float>();
  p.indices = indices.data_as<int32_t>();
  if (users == 0) return {values, indices};
  submit_twins(ctx, device, op, {&queries, &items, exclude_offsets, exclude_ids, &values, &indices},
               LLMREC_TWINS(score_topk), p);
  return {values, indices};
}

}  // namespace llmrec::ops

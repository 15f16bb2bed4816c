#include "infonce.h"

#include <cmath>
#include <limits>

#include "../abi/error.h"
#include "../core/dispatch.h"

namespace llmrec::ops {
namespace {

struct Checked {
  Device device;
  kernels::InfoNceParams params;
};

Checked check(const char* op, const InfoNceInputs& in, const InfoNceOptions& options) {
  const Tensor& q = *in.queries;
  const Tensor& k = *in.keys;
  if (!is_floating(q.dtype) || q.dim() != 2 || q.size(0) == 0 || q.size(1) == 0)
    fail(op, ": 'q' must be a non-empty 2-d f32 or bf16 tensor [B, d] but is ", dtype_name(q.dtype),
         shape_str(q.shape));
  const int64_t batch = q.size(0), dim = q.size(1);
  if (k.dtype != q.dtype || k.dim() != 2 || k.size(1) != dim || k.size(0) == 0)
    fail(op, ": 'k' must be ", dtype_name(q.dtype), "[N, ", dim, "] like 'q' ", dtype_name(q.dtype),
         shape_str(q.shape), " but is ", dtype_name(k.dtype), shape_str(k.shape));
  const Device device = q.device();
  expect_device(op, device, {{"k", &k}});
  kernels::InfoNceParams p;
  static_cast<InfoNceOptions&>(p) = options;
  p.dtype = q.dtype;
  p.queries = q.data();
  p.keys = k.data();
  p.batch = batch;
  p.key_count = k.size(0);
  p.dim = dim;
  if (in.negatives != nullptr) {
    const Tensor& n = *in.negatives;
    if (n.dtype != q.dtype || n.dim() != 2 || n.size(1) != dim)
      fail(op, ": 'extraNegatives' must be ", dtype_name(q.dtype), "[M, ", dim, "] like 'q' ",
           dtype_name(q.dtype), shape_str(q.shape), " but is ", dtype_name(n.dtype), shape_str(n.shape));
    expect_device(op, device, {{"extraNegatives", &n}});
    p.negatives = n.data();
    p.negative_count = n.size(0);
  }
  if (in.positives != nullptr) {
    const Tensor& pos = *in.positives;
    if (pos.dtype != DType::I32 || pos.shape != Shape{batch})
      fail(op, ": 'positives' must be i32[", batch, "] (one key index per query of 'q' ", shape_str(q.shape),
           ") but is ", dtype_name(pos.dtype), shape_str(pos.shape));
    expect_device(op, device, {{"positives", &pos}});
    p.positives = pos.data_as<int32_t>();
  } else if (p.key_count < batch) {
    fail(op, ": without 'positives' query i's positive is key i, so 'k' ", shape_str(k.shape),
         " needs at least ", batch, " rows for 'q' ", shape_str(q.shape));
  }
  if (in.item_ids != nullptr) {
    const Tensor& ids = *in.item_ids;
    const int64_t total = p.key_count + p.negative_count;
    if (ids.dtype != DType::I32 || ids.shape != Shape{total})
      fail(op, ": 'itemIds' must be i32[", total, "] (one per key and extra negative: ", p.key_count, " + ",
           p.negative_count, ") but is ", dtype_name(ids.dtype), shape_str(ids.shape));
    expect_device(op, device, {{"itemIds", &ids}});
    p.item_ids = ids.data_as<int32_t>();
  }
  if (!(options.temperature > 0.0f) || !std::isfinite(options.temperature))
    fail(op, ": 'temperature' must be a positive number, got ", options.temperature);
  if (options.uniformity_weight != 0.0f) {
    if (!std::isfinite(options.uniformity_weight) || !std::isfinite(options.uniformity_t) ||
        options.uniformity_t <= 0)
      fail(op, ": 'uniformity' needs a positive t and a finite weight, got t = ", options.uniformity_t,
           ", weight = ", options.uniformity_weight);
    if (batch < 2)
      fail(op, ": 'uniformity' averages over distinct pairs of queries and needs B >= 2, but 'q' is ",
           shape_str(q.shape));
  }
  if (batch > std::numeric_limits<int32_t>::max() ||
      p.key_count + p.negative_count > std::numeric_limits<int32_t>::max())
    fail(op, ": at most 2^31 - 1 queries and keys are supported, got 'q' ", shape_str(q.shape), " and 'k' ",
         shape_str(k.shape));
  return {device, p};
}

// Tensors the kernels read, for submit's list: absent ones stand in as q.
void list_inputs(const InfoNceInputs& in, const Tensor* (&slots)[5]) {
  slots[0] = in.queries;
  slots[1] = in.keys;
  slots[2] = in.negatives != nullptr ? in.negatives : in.queries;
  slots[3] = in.positives != nullptr ? in.positives : in.queries;
  slots[4] = in.item_ids != nullptr ? in.item_ids : in.queries;
}

}  // namespace

InfoNceResult infonce(Context& ctx, const InfoNceInputs& in, const InfoNceOptions& options) {
  const char* op = "infonce";
  Checked c = check(op, in, options);
  InfoNceResult result;
  result.loss = ctx.empty({}, DType::F32, c.device, op);
  result.stats = ctx.empty({kernels::infonce_stats_size(c.params.batch)}, DType::F32, c.device, op);
  c.params.loss = result.loss.data_as<float>();
  c.params.stats = result.stats.data_as<float>();
  const Tensor* s[5];
  list_inputs(in, s);
  const kernels::InfoNceParams p = c.params;
  submit_twins(ctx, c.device, op, {s[0], s[1], s[2], s[3], s[4], &result.loss, &result.stats},
               LLMREC_TWINS(infonce_forward), p);
  return result;
}

InfoNceGrads infonce_backward(Context& ctx, const InfoNceInputs& in, const InfoNceOptions& options,
                              const Tensor& stats, const Tensor& grad_loss) {
  const char* op = "infonce backward";
  Checked c = check(op, in, options);
  if (stats.dtype != DType::F32 || stats.shape != Shape{kernels::infonce_stats_size(c.params.batch)})
    fail(op, ": 'stats' must be the f32[", kernels::infonce_stats_size(c.params.batch),
         "] the forward returned, got ", dtype_name(stats.dtype), shape_str(stats.shape));
  if (grad_loss.dtype != DType::F32 || grad_loss.numel != 1)
    fail(op, ": 'gradLoss' must be an f32 scalar, got ", dtype_name(grad_loss.dtype),
         shape_str(grad_loss.shape));
  expect_device(op, c.device, {{"stats", &stats}, {"gradLoss", &grad_loss}});
  InfoNceGrads grads;
  grads.queries = ctx.empty(in.queries->shape, in.queries->dtype, c.device, op);
  grads.keys = ctx.empty(in.keys->shape, in.keys->dtype, c.device, op);
  c.params.stats = stats.data_as<float>();
  c.params.grad_loss = grad_loss.data_as<float>();
  c.params.grad_queries = grads.queries.data();
  c.params.grad_keys = grads.keys.data();
  if (in.negatives != nullptr) {
    grads.negatives = ctx.empty(in.negatives->shape, in.negatives->dtype, c.device, op);
    c.params.grad_negatives = grads.negatives.data();
  }
  const Tensor* s[5];
  list_inputs(in, s);
  const Tensor& grad_negatives = in.negatives != nullptr ? grads.negatives : grads.queries;
  const kernels::InfoNceParams p = c.params;
  submit_twins(
      ctx, c.device, op,
      {s[0], s[1], s[2], s[3], s[4], &stats, &grad_loss, &grads.queries, &grads.keys, &grad_negatives},
      LLMREC_TWINS(infonce_backward), p);
  return grads;
}

}  // namespace llmrec::ops

#include "loss.h"

#include <string>

#include "../core/dispatch.h"
#include "dense_checks.h"

namespace llmrec::ops {
using kernels::LossReduction;
using namespace dense;

namespace {

const int kLinearLabelSite = register_kernel_error_site(
    "linearCrossEntropy: labels[{value}] = {limit} is out of range; a label must be a row index of 'weight' "
    "(0 <= label < vocabulary) or the ignore index");
const int kGatherSite = register_kernel_error_site(
    "gatherDot: indices (flattened) [{value}] = {limit} is out of range for the rows of 'table'");
const int kLabelSite = register_kernel_error_site(
    "crossEntropy: labels[{value}] = {limit} is out of range; a label must be a class index (0 <= label < "
    "classes) or the ignore index");

void expect_labels(const char* op, const Tensor& labels, int64_t rows) {
  if (labels.dtype != DType::I32)
    fail(op, ": 'labels' must be i32 but is ", dtype_name(labels.dtype), shape_str(labels.shape),
         "; cast it with .cast('i32')");
  if (labels.dim() != 1 || labels.shape[0] != rows)
    fail(op, ": 'labels' has shape ", shape_str(labels.shape), " but must be [", rows, "], one per row");
}

void check_options(const char* op, const CrossEntropyOptions& o) {
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f))
    fail(op, ": 'labelSmoothing' must be in [0, 1], got ", o.label_smoothing);
}

void expect_grad_loss(const char* op, const Tensor& g, LossReduction reduction, int64_t rows) {
  const int64_t want = reduction == LossReduction::None ? rows : 1;
  if (g.dtype != DType::F32 || g.numel != want)
    fail(op, ": 'gradLoss' must be f32 with ", want, " element(s) but is ", dtype_name(g.dtype),
         shape_str(g.shape));
}

kernels::CrossEntropyTargets targets_of(const Tensor* labels, const CrossEntropyOptions& o, int site) {
  kernels::CrossEntropyTargets t;
  static_cast<CrossEntropyOptions&>(t) = o;
  t.labels = labels ? labels->data_as<int32_t>() : nullptr;
  // Sampled softmax: every label is 0 and no row is ignored.
  if (labels == nullptr) t.ignore_index = -1;
  t.error_site = site;
  return t;
}

// Reduces the per-row losses into `result.loss` unless the reduction is 'none'.
void finish_reduction(Context& ctx, const char* op, const Device& device, const Tensor& row_loss,
                      const Tensor* labels, const kernels::CrossEntropyTargets& targets,
                      LossReduction reduction, LossResult& result) {
  if (reduction == LossReduction::None) {
    result.loss = row_loss;
    return;
  }
  result.loss = ctx.empty({}, DType::F32, device, op);
  kernels::LossReduceParams p;
  p.row_loss = row_loss.data_as<float>();
  p.rows = row_loss.numel;
  p.targets = targets;
  p.reduction = reduction;
  p.out = result.loss.data_as<float>();
  submit_twins(ctx, device, op, {&row_loss, labels, &result.loss}, LLMREC_TWINS(loss_reduce), p);
}

}  // namespace

LossResult linear_cross_entropy(Context& ctx, const Tensor& hidden, const Tensor& weight,
                                const Tensor& labels, const CrossEntropyOptions& options, int64_t chunk,
                                bool keep_logits) {
  const char* op = "linearCrossEntropy";
  expect_floating(op, "hidden", hidden);
  expect_dtype(op, "weight", weight, hidden.dtype, "hidden");
  if (hidden.dim() != 2) fail(op, ": 'hidden' must be [N, d] but has shape ", shape_str(hidden.shape));
  if (weight.dim() != 2 || weight.shape[1] != hidden.shape[1])
    fail(op, ": 'weight' must be [V, ", hidden.shape[1], "] (torch Linear layout, matching 'hidden' ",
         shape_str(hidden.shape), ") but has shape ", shape_str(weight.shape));
  if (weight.shape[0] == 0)
    fail(op, ": 'weight' ", shape_str(weight.shape), " has no rows (an empty vocabulary)");
  if (chunk < 0) fail(op, ": 'chunk' must be >= 0 (0 picks a default), got ", chunk);
  check_options(op, options);
  const int64_t rows = hidden.shape[0];
  expect_labels(op, labels, rows);
  const Device device = hidden.device();
  expect_device(op, device, {{"weight", &weight}, {"labels", &labels}});
  Tensor row_loss = ctx.empty({rows}, DType::F32, device, op);
  LossResult result;
  result.lse = ctx.empty({rows}, DType::F32, device, op);
  kernels::LinearCrossEntropyParams p{hidden.dtype,
                                      hidden.data(),
                                      weight.data(),
                                      rows,
                                      hidden.shape[1],
                                      weight.shape[0],
                                      chunk,
                                      targets_of(&labels, options, kLinearLabelSite),
                                      row_loss.data_as<float>(),
                                      result.lse.data_as<float>()};
  if (keep_logits && device.is_cpu()) {
    result.logits = ctx.empty({rows, p.vocab}, DType::F32, device, op);
    p.logits = result.logits.data_as<float>();
  }
  if (rows > 0)
    submit_twins(ctx, device, op, {&hidden, &weight, &labels, &row_loss, &result.lse, &result.logits},
                 LLMREC_TWINS(linear_cross_entropy), p);
  finish_reduction(ctx, op, device, row_loss, &labels, p.targets, options.reduction, result);
  return result;
}

TwoGrads linear_cross_entropy_backward(Context& ctx, const Tensor& grad_loss, const Tensor& hidden,
                                       const Tensor& weight, const Tensor& labels, const Tensor& lse,
                                       const CrossEntropyOptions& options, int64_t chunk, bool need_hidden,
                                       bool need_weight, const Tensor* logits) {
  const char* op = "linearCrossEntropy backward";
  expect_floating(op, "hidden", hidden);
  expect_dtype(op, "weight", weight, hidden.dtype, "hidden");
  if (hidden.dim() != 2 || weight.dim() != 2 || weight.shape[1] != hidden.shape[1])
    fail(op, ": 'hidden' ", shape_str(hidden.shape), " and 'weight' ", shape_str(weight.shape),
         " must be [N, d] and [V, d]");
  const int64_t rows = hidden.shape[0];
  expect_labels(op, labels, rows);
  if (lse.dtype != DType::F32 || lse.numel != rows)
    fail(op, ": 'lse' must be f32 [", rows, "] but is ", dtype_name(lse.dtype), shape_str(lse.shape));
  expect_grad_loss(op, grad_loss, options.reduction, rows);
  const Device device = hidden.device();
  expect_device(op, device,
                {{"gradLoss", &grad_loss}, {"weight", &weight}, {"labels", &labels}, {"lse", &lse}});
  TwoGrads g;
  if (need_hidden) g.first = ctx.empty(hidden.shape, hidden.dtype, device, op);
  if (need_weight) g.second = ctx.empty(weight.shape, weight.dtype, device, op);
  kernels::LinearCrossEntropyBackwardParams p;
  p.forward.dtype = hidden.dtype;
  p.forward.hidden = hidden.data();
  p.forward.weight = weight.data();
  p.forward.rows = rows;
  p.forward.dim = hidden.shape[1];
  p.forward.vocab = weight.shape[0];
  p.forward.chunk = chunk;
  p.forward.targets = targets_of(&labels, options, kLinearLabelSite);
  p.forward.lse = lse.data_as<float>();
  if (logits && device.is_cpu()) {
    if (logits->dtype != DType::F32 || logits->shape != Shape{rows, p.forward.vocab})
      fail(op, ": 'logits' must be f32 [", rows, ", ", p.forward.vocab, "] but is ",
           dtype_name(logits->dtype), shape_str(logits->shape));
    expect_device(op, device, {{"logits", logits}});
    p.forward.logits = logits->data_as<float>();
  }
  p.reduction = options.reduction;
  p.grad_loss = grad_loss.data_as<float>();
  p.grad_hidden = need_hidden ? g.first.data() : nullptr;
  p.grad_weight = need_weight ? g.second.data() : nullptr;
  if (!need_hidden && !need_weight) return g;
  const Tensor kept = logits ? *logits : Tensor();
  submit_twins(ctx, device, op, {&grad_loss, &hidden, &weight, &labels, &lse, &kept, &g.first, &g.second},
               LLMREC_TWINS(linear_cross_entropy_backward), p);
  return g;
}

namespace {
// Fills the shape-dependent fields of CrossEntropyParams after checking the logits.
kernels::CrossEntropyParams ce_params(const char* op, const Tensor* first, const Tensor& rest,
                                      const Tensor* labels, const CrossEntropyOptions& options) {
  kernels::CrossEntropyParams p;
  if (first) {
    expect_floating(op, "positive", *first);
    expect_dtype(op, "negatives", rest, first->dtype, "positive");
    if (first->dim() != 1) fail(op, ": 'positive' must be [N] but has shape ", shape_str(first->shape));
    if (rest.dim() != 2 || rest.shape[0] != first->shape[0])
      fail(op, ": 'negatives' must be [", first->shape[0], ", K] to match 'positive' ",
           shape_str(first->shape), " but has shape ", shape_str(rest.shape));
    p.rows = first->shape[0];
    p.cols = rest.shape[1] + 1;
  } else {
    expect_floating(op, "logits", rest);
    if (rest.dim() != 2) fail(op, ": 'logits' must be [N, C] but has shape ", shape_str(rest.shape));
    if (rest.shape[1] == 0) fail(op, ": 'logits' ", shape_str(rest.shape), " has no classes");
    p.rows = rest.shape[0];
    p.cols = rest.shape[1];
  }
  check_options(op, options);
  if (labels) expect_labels(op, *labels, p.rows);
  p.dtype = rest.dtype;
  p.first = first ? first->data() : nullptr;
  p.rest = rest.data();
  p.targets = targets_of(labels, options, kLabelSite);
  return p;
}
const char* ce_name(const Tensor* first) { return first ? "sampledSoftmax" : "crossEntropy"; }
}  // namespace

LossResult cross_entropy(Context& ctx, const Tensor* first, const Tensor& rest, const Tensor* labels,
                         const CrossEntropyOptions& options) {
  const char* op = ce_name(first);
  kernels::CrossEntropyParams p = ce_params(op, first, rest, labels, options);
  const Device device = rest.device();
  expect_device(op, device, {{"positive", first}, {"labels", labels}});
  Tensor row_loss = ctx.empty({p.rows}, DType::F32, device, op);
  LossResult result;
  result.lse = ctx.empty({p.rows}, DType::F32, device, op);
  p.row_loss = row_loss.data_as<float>();
  p.lse = result.lse.data_as<float>();
  if (p.rows > 0)
    submit_twins(ctx, device, op, {first, &rest, labels, &row_loss, &result.lse}, LLMREC_TWINS(cross_entropy),
                 p);
  finish_reduction(ctx, op, device, row_loss, labels, p.targets, options.reduction, result);
  return result;
}

TwoGrads cross_entropy_backward(Context& ctx, const Tensor& grad_loss, const Tensor* first,
                                const Tensor& rest, const Tensor* labels, const Tensor& lse,
                                const CrossEntropyOptions& options) {
  const char* op = first ? "sampledSoftmax backward" : "crossEntropy backward";
  kernels::CrossEntropyBackwardParams p;
  p.forward = ce_params(op, first, rest, labels, options);
  const int64_t rows = p.forward.rows;
  if (lse.dtype != DType::F32 || lse.numel != rows)
    fail(op, ": 'lse' must be f32 [", rows, "] but is ", dtype_name(lse.dtype), shape_str(lse.shape));
  expect_grad_loss(op, grad_loss, options.reduction, rows);
  const Device device = rest.device();
  expect_device(op, device,
                {{"gradLoss", &grad_loss}, {"positive", first}, {"labels", labels}, {"lse", &lse}});
  TwoGrads g;
  if (first) g.first = ctx.empty(first->shape, first->dtype, device, op);
  g.second = ctx.empty(rest.shape, rest.dtype, device, op);
  p.forward.lse = lse.data_as<float>();
  p.reduction = options.reduction;
  p.grad_loss = grad_loss.data_as<float>();
  p.grad_first = first ? g.first.data() : nullptr;
  p.grad_rest = g.second.data();
  if (rows > 0)
    submit_twins(ctx, device, op, {&grad_loss, first, &rest, labels, &lse, &g.first, &g.second},
                 LLMREC_TWINS(cross_entropy_backward), p);
  return g;
}

namespace {
kernels::GatherDotParams gather_dot_params(const char* op, const Tensor& user, const Tensor& table,
                                           const Tensor& indices) {
  expect_floating(op, "user", user);
  expect_dtype(op, "table", table, user.dtype, "user");
  if (user.dim() != 2) fail(op, ": 'user' must be [N, d] but has shape ", shape_str(user.shape));
  if (table.dim() != 2 || table.shape[1] != user.shape[1])
    fail(op, ": 'table' must be [items, ", user.shape[1], "] to match 'user' ", shape_str(user.shape),
         " but has shape ", shape_str(table.shape));
  if (indices.dtype != DType::I32)
    fail(op, ": 'indices' must be i32 but is ", dtype_name(indices.dtype), shape_str(indices.shape));
  if (indices.dim() != 2 || indices.shape[0] != user.shape[0])
    fail(op, ": 'indices' must be [", user.shape[0], ", K] (K items per row of 'user') but has shape ",
         shape_str(indices.shape));
  expect_device(op, user.device(), {{"table", &table}, {"indices", &indices}});
  kernels::GatherDotParams p;
  p.dtype = user.dtype;
  p.user = user.data();
  p.table = table.data();
  p.indices = indices.data_as<int32_t>();
  p.rows = user.shape[0];
  p.per_row = indices.shape[1];
  p.dim = user.shape[1];
  p.items = table.shape[0];
  p.error_site = kGatherSite;
  return p;
}
}  // namespace

Tensor gather_dot(Context& ctx, const Tensor& user, const Tensor& table, const Tensor& indices) {
  const char* op = "gatherDot";
  kernels::GatherDotParams p = gather_dot_params(op, user, table, indices);
  Tensor out = ctx.empty(indices.shape, user.dtype, user.device(), op);
  p.out = out.data();
  if (out.numel > 0)
    submit_twins(ctx, user.device(), op, {&user, &table, &indices, &out}, LLMREC_TWINS(gather_dot), p);
  return out;
}

TwoGrads gather_dot_backward(Context& ctx, const Tensor& grad_out, const Tensor& user, const Tensor& table,
                             const Tensor& indices, bool need_user, bool need_table) {
  const char* op = "gatherDot backward";
  kernels::GatherDotBackwardParams p;
  p.forward = gather_dot_params(op, user, table, indices);
  expect_grad_like(op, "gradOut", grad_out, indices, "indices", user, "user");
  expect_device(op, user.device(), {{"gradOut", &grad_out}});
  TwoGrads g;
  if (need_user) g.first = ctx.empty(user.shape, user.dtype, user.device(), op);
  if (need_table) g.second = ctx.empty(table.shape, table.dtype, table.device(), op);
  p.grad_out = grad_out.data();
  p.grad_user = need_user ? g.first.data() : nullptr;
  p.grad_table = need_table ? g.second.data() : nullptr;
  if (need_user || need_table)
    submit_twins(ctx, user.device(), op, {&grad_out, &user, &table, &indices, &g.first, &g.second},
                 LLMREC_TWINS(gather_dot_backward), p);
  return g;
}

namespace {
kernels::BceParams bce_params(const char* op, const Tensor& x, const Tensor& target, const Tensor* weight) {
  expect_floating(op, "x", x);
  expect_same_shape(op, "target", target, x, "x");
  expect_dtype(op, "target", target, x.dtype, "x");
  if (weight) {
    expect_same_shape(op, "weight", *weight, x, "x");
    expect_dtype(op, "weight", *weight, x.dtype, "x");
  }
  expect_device(op, x.device(), {{"target", &target}, {"weight", weight}});
  kernels::BceParams p;
  p.dtype = x.dtype;
  p.x = x.data();
  p.target = target.data();
  p.weight = weight ? weight->data() : nullptr;
  p.numel = x.numel;
  return p;
}
}  // namespace

Tensor bce_with_logits(Context& ctx, const Tensor& x, const Tensor& target, const Tensor* weight) {
  const char* op = "bceWithLogits";
  kernels::BceParams p = bce_params(op, x, target, weight);
  Tensor out = ctx.empty(x.shape, x.dtype, x.device(), op);
  p.out = out.data();
  if (p.numel > 0)
    submit_twins(ctx, x.device(), op, {&x, &target, weight, &out}, LLMREC_TWINS(bce_with_logits), p);
  return out;
}

Tensor bce_with_logits_backward(Context& ctx, const Tensor& grad_out, const Tensor& x, const Tensor& target,
                                const Tensor* weight) {
  const char* op = "bceWithLogits backward";
  kernels::BceBackwardParams p;
  p.forward = bce_params(op, x, target, weight);
  expect_grad_like(op, "gradOut", grad_out, x, "x", x, "x");
  expect_device(op, x.device(), {{"gradOut", &grad_out}});
  Tensor dx = ctx.empty(x.shape, x.dtype, x.device(), op);
  p.grad_out = grad_out.data();
  p.grad_x = dx.data();
  if (p.forward.numel > 0)
    submit_twins(ctx, x.device(), op, {&grad_out, &x, &target, weight, &dx},
                 LLMREC_TWINS(bce_with_logits_backward), p);
  return dx;
}

}  // namespace llmrec::ops

// Bindings of the loss family.
#include <string>

#include "../ops/loss.h"
#include "dense_glue.h"
#include "options.h"

namespace llmrec::addon {
namespace {

// The cross-entropy options object (kernels::CrossEntropyOptions) at info[at].
ops::CrossEntropyOptions ce_options(const Napi::CallbackInfo& info, size_t at, const char* op) {
  return read_options<ops::CrossEntropyOptions>(info, at, op);
}

// linearCrossEntropy(hidden, weight, labels, options, chunk, keepLogits)
//   -> [loss, lse, logits | null]
Napi::Value linear_cross_entropy(const Napi::CallbackInfo& info) {
  const char* op = "linearCrossEntropy";
  ops::LossResult r = ops::linear_cross_entropy(
      context(info.Env()), tensor_arg(info, 0, op, "hidden"), tensor_arg(info, 1, op, "weight"),
      tensor_arg(info, 2, op, "labels"), ce_options(info, 3, op), integer_arg(info[4], op, "chunk"),
      bool_arg(info[5], op, "keepLogits"));
  return tensor_list(info.Env(), {r.loss, r.lse, r.logits});
}

// linearCrossEntropyBackward(gradLoss, hidden, weight, labels, lse, options, chunk, needHidden, needWeight,
//                            logits | null) -> [dHidden | null, dWeight | null]
Napi::Value linear_cross_entropy_backward(const Napi::CallbackInfo& info) {
  const char* op = "linearCrossEntropy backward";
  ops::TwoGrads g = ops::linear_cross_entropy_backward(
      context(info.Env()), tensor_arg(info, 0, op, "gradLoss"), tensor_arg(info, 1, op, "hidden"),
      tensor_arg(info, 2, op, "weight"), tensor_arg(info, 3, op, "labels"), tensor_arg(info, 4, op, "lse"),
      ce_options(info, 5, op), integer_arg(info[6], op, "chunk"), bool_arg(info[7], op, "needHidden"),
      bool_arg(info[8], op, "needWeight"), optional_tensor_arg(info, 9, op, "logits"));
  return tensor_list(info.Env(), {g.first, g.second});
}

// Cross-entropy needs its labels; only the sampled softmax (a positive given) has none. A
// missing or non-Tensor label must not read as "no labels", which would score every row as label 0.
const Tensor* labels_arg(const Napi::CallbackInfo& info, size_t index, const char* op,
                         const Tensor* positive) {
  if (positive == nullptr) return &tensor_arg(info, index, op, "labels");
  if (!info[index].IsUndefined() && !info[index].IsNull())
    fail(op, ": takes no 'labels' (the positive is the target)");
  return nullptr;
}

// crossEntropy(positive | null, logits, labels | null, options) -> [loss, lse]
Napi::Value cross_entropy(const Napi::CallbackInfo& info) {
  const Tensor* first = optional_tensor_arg(info, 0, "sampledSoftmax", "positive");
  const char* op = first ? "sampledSoftmax" : "crossEntropy";
  ops::LossResult r =
      ops::cross_entropy(context(info.Env()), first, tensor_arg(info, 1, op, first ? "negatives" : "logits"),
                         labels_arg(info, 2, op, first), ce_options(info, 3, op));
  return tensor_list(info.Env(), {r.loss, r.lse});
}

// crossEntropyBackward(gradLoss, positive | null, logits, labels | null, lse, options)
//   -> [dPositive | null, dLogits]
Napi::Value cross_entropy_backward(const Napi::CallbackInfo& info) {
  const Tensor* first = optional_tensor_arg(info, 1, "sampledSoftmax backward", "positive");
  const char* op = first ? "sampledSoftmax backward" : "crossEntropy backward";
  ops::TwoGrads g = ops::cross_entropy_backward(
      context(info.Env()), tensor_arg(info, 0, op, "gradLoss"), first, tensor_arg(info, 2, op, "logits"),
      labels_arg(info, 3, op, first), tensor_arg(info, 4, op, "lse"), ce_options(info, 5, op));
  return tensor_list(info.Env(), {g.first, g.second});
}

// gatherDot(user, table, indices)
Napi::Value gather_dot(const Napi::CallbackInfo& info) {
  const char* op = "gatherDot";
  return wrap_tensor(info.Env(),
                     ops::gather_dot(context(info.Env()), tensor_arg(info, 0, op, "user"),
                                     tensor_arg(info, 1, op, "table"), tensor_arg(info, 2, op, "indices")));
}

// gatherDotBackward(gradOut, user, table, indices, needUser, needTable) -> [dUser | null, dTable | null]
Napi::Value gather_dot_backward(const Napi::CallbackInfo& info) {
  const char* op = "gatherDot backward";
  ops::TwoGrads g = ops::gather_dot_backward(
      context(info.Env()), tensor_arg(info, 0, op, "gradOut"), tensor_arg(info, 1, op, "user"),
      tensor_arg(info, 2, op, "table"), tensor_arg(info, 3, op, "indices"), bool_arg(info[4], op, "needUser"),
      bool_arg(info[5], op, "needTable"));
  return tensor_list(info.Env(), {g.first, g.second});
}

// bceWithLogits(x, target, weight | null)
Napi::Value bce_with_logits(const Napi::CallbackInfo& info) {
  const char* op = "bceWithLogits";
  return wrap_tensor(info.Env(), ops::bce_with_logits(context(info.Env()), tensor_arg(info, 0, op, "x"),
                                                      tensor_arg(info, 1, op, "target"),
                                                      optional_tensor_arg(info, 2, op, "weight")));
}

// bceWithLogitsBackward(gradOut, x, target, weight | null)
Napi::Value bce_with_logits_backward(const Napi::CallbackInfo& info) {
  const char* op = "bceWithLogits backward";
  return wrap_tensor(
      info.Env(), ops::bce_with_logits_backward(
                      context(info.Env()), tensor_arg(info, 0, op, "gradOut"), tensor_arg(info, 1, op, "x"),
                      tensor_arg(info, 2, op, "target"), optional_tensor_arg(info, 3, op, "weight")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(loss, linear_cross_entropy, linear_cross_entropy_backward, cross_entropy,
                         cross_entropy_backward, gather_dot, gather_dot_backward, bce_with_logits,
                         bce_with_logits_backward);

}  // namespace llmrec::addon

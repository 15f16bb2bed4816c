// Bindings of the infonce family.
#include "../ops/infonce.h"
#include "addon.h"
#include "options.h"

namespace llmrec::addon {
namespace {

// Arguments shared by forward and backward: q, k, negatives?, positives?, itemIds?, options.
constexpr size_t kSharedArgs = 6;

ops::InfoNceInputs inputs_arg(const Napi::CallbackInfo& info, const char* op) {
  ops::InfoNceInputs in;
  in.queries = &tensor_arg(info, 0, op, "q");
  in.keys = &tensor_arg(info, 1, op, "k");
  in.negatives = optional_tensor_arg(info, 2, op, "extraNegatives");
  in.positives = optional_tensor_arg(info, 3, op, "positives");
  in.item_ids = optional_tensor_arg(info, 4, op, "itemIds");
  return in;
}

kernels::InfoNceOptions options_arg(const Napi::CallbackInfo& info, const char* op) {
  return read_options<kernels::InfoNceOptions>(info, 5, op);
}

// infonce(q, k, negatives, positives, itemIds, options)
//   -> [loss, stats]
Napi::Value infonce(const Napi::CallbackInfo& info) {
  const char* op = "infonce";
  const ops::InfoNceResult result =
      ops::infonce(context(info.Env()), inputs_arg(info, op), options_arg(info, op));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, wrap_tensor(info.Env(), result.loss));
  out.Set(1u, wrap_tensor(info.Env(), result.stats));
  return out;
}

// infonceBackward(...the forward's arguments, stats, gradLoss) -> [gradQ, gradK, gradNegatives | null]
Napi::Value infonce_backward(const Napi::CallbackInfo& info) {
  const char* op = "infonce backward";
  const ops::InfoNceGrads grads = ops::infonce_backward(
      context(info.Env()), inputs_arg(info, op), options_arg(info, op),
      tensor_arg(info, kSharedArgs, op, "stats"), tensor_arg(info, kSharedArgs + 1, op, "gradLoss"));
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, wrap_tensor(info.Env(), grads.queries));
  out.Set(1u, wrap_tensor(info.Env(), grads.keys));
  out.Set(2u, grads.negatives.defined() ? wrap_tensor(info.Env(), grads.negatives) : info.Env().Null());
  return out;
}

}  // namespace

LLMREC_REGISTER_BINDINGS(infonce, infonce, infonce_backward);

}  // namespace llmrec::addon

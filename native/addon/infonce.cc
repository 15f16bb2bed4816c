// Bindings of the infonce family.
#include "../ops/infonce.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

// Arguments shared by forward and backward: q, k, negatives?, positives?, itemIds?, temperature,
// normalize, symmetric, uniformityT, uniformityWeight.
constexpr size_t kSharedArgs = 10;

ops::InfoNceInputs inputs_arg(const Napi::CallbackInfo& info, const char* op) {
  ops::InfoNceInputs in;
  in.queries = &tensor_arg(info, 0, op, "q");
  in.keys = &tensor_arg(info, 1, op, "k");
  in.negatives = optional_tensor_arg(info, 2, op, "extraNegatives");
  in.positives = optional_tensor_arg(info, 3, op, "positives");
  in.item_ids = optional_tensor_arg(info, 4, op, "itemIds");
  return in;
}

ops::InfoNceOptions options_arg(const Napi::CallbackInfo& info, const char* op) {
  ops::InfoNceOptions options;
  options.temperature = float(number_arg(info[5], op, "temperature"));
  options.normalize = bool_arg(info[6], op, "normalize");
  options.symmetric = bool_arg(info[7], op, "symmetric");
  options.uniformity_t = float(number_arg(info[8], op, "uniformity.t"));
  options.uniformity_weight = float(number_arg(info[9], op, "uniformity.weight"));
  return options;
}

// infonce(q, k, negatives, positives, itemIds, temperature, normalize, symmetric, uT, uWeight)
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

void init(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "infonce", infonce);
  export_function(env, exports, "infonceBackward", infonce_backward);
}

}  // namespace

LLMREC_REGISTER_BINDINGS(infonce, init);

}  // namespace llmrec::addon

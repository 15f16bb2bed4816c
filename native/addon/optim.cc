// Bindings of the optimiser family.
#include "../ops/optim.h"
#include "../abi/error.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

double hyper_number(const Napi::Object& hyper, const char* key) {
  return number_arg(hyper.Get(key), "adamStep", key);
}

// adamStep(params[], grads[], expAvg[], expAvgSq[], masters[] (null entries), gradScale | null,
//          { lr, beta1, beta2, eps, weightDecay, step, decoupled })
Napi::Value adam_step(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "adamStep";
  if (!info[6].IsObject()) fail(kOp, ": 'hyper' must be an object");
  const Napi::Object object = info[6].As<Napi::Object>();
  ops::AdamHyper hyper;
  hyper.lr = hyper_number(object, "lr");
  hyper.beta1 = hyper_number(object, "beta1");
  hyper.beta2 = hyper_number(object, "beta2");
  hyper.eps = hyper_number(object, "eps");
  hyper.weight_decay = hyper_number(object, "weightDecay");
  hyper.step = integer_arg(object.Get("step"), kOp, "step");
  hyper.decoupled = bool_arg(object.Get("decoupled"), kOp, "decoupled");
  ops::adam_step(context(info.Env()), tensor_list_arg(info[0], kOp, "params"),
                 tensor_list_arg(info[1], kOp, "grads"), tensor_list_arg(info[2], kOp, "expAvg"),
                 tensor_list_arg(info[3], kOp, "expAvgSq"), tensor_list_arg(info[4], kOp, "masters", true),
                 optional_tensor_arg(info, 5, kOp, "gradScale"), hyper);
  return info.Env().Undefined();
}

// squaredNorms(tensors[]) -> f32 [n]
Napi::Value squared_norms(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(), ops::squared_norms(context(info.Env()),
                                                    tensor_list_arg(info[0], "squaredNorms", "tensors")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(optim, adam_step, squared_norms);

}  // namespace llmrec::addon

// Bindings of the topk family.
#include "../ops/topk.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

Napi::Value pair_to_js(Napi::Env env, std::pair<Tensor, Tensor> result) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(uint32_t(0), wrap_tensor(env, std::move(result.first)));
  pair.Set(uint32_t(1), wrap_tensor(env, std::move(result.second)));
  return pair;
}

// topk(x, k) -> [values, indices]
Napi::Value topk(const Napi::CallbackInfo& info) {
  return pair_to_js(info.Env(), ops::topk(context(info.Env()), tensor_arg(info, 0, "topk", "x"),
                                          integer_arg(info[1], "topk", "k")));
}

// scoreTopk(queries, items, k, excludeOffsets | null, excludeIds | null, excludePadding) -> [values, indices]
Napi::Value score_topk(const Napi::CallbackInfo& info) {
  const char* op = "scoreTopk";
  return pair_to_js(info.Env(),
                    ops::score_topk(context(info.Env()), tensor_arg(info, 0, op, "queries"),
                                    tensor_arg(info, 1, op, "items"), integer_arg(info[2], op, "k"),
                                    optional_tensor_arg(info, 3, op, "excludeOffsets"),
                                    optional_tensor_arg(info, 4, op, "excludeIds"),
                                    bool_arg(info[5], op, "excludePadding")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(topk, topk, score_topk);

}  // namespace llmrec::addon

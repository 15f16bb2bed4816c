// Bindings of the attention family.
#include "../ops/attention.h"
#include "addon.h"
#include "options.h"

namespace llmrec::addon {
namespace {

// attentionForward(q, k, v, options) -> [out, lse]
Napi::Value attention_forward(const Napi::CallbackInfo& info) {
  const char* op = "attention";
  const auto options = read_options<kernels::AttentionOptions>(info, 3, op);
  auto [out, lse] =
      ops::attention_forward(context(info.Env()), tensor_arg(info, 0, op, "q"), tensor_arg(info, 1, op, "k"),
                             tensor_arg(info, 2, op, "v"), options);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t(0), wrap_tensor(info.Env(), out));
  result.Set(uint32_t(1), wrap_tensor(info.Env(), lse));
  return result;
}

// attentionBackward(q, k, v, out, lse, gradOut, options) -> [dq, dk, dv]
Napi::Value attention_backward(const Napi::CallbackInfo& info) {
  const char* op = "attention backward";
  const auto options = read_options<kernels::AttentionOptions>(info, 6, op);
  auto [dq, dk, dv] =
      ops::attention_backward(context(info.Env()), tensor_arg(info, 0, op, "q"), tensor_arg(info, 1, op, "k"),
                              tensor_arg(info, 2, op, "v"), tensor_arg(info, 3, op, "out"),
                              tensor_arg(info, 4, op, "lse"), tensor_arg(info, 5, op, "gradOut"), options);
  Napi::Array result = Napi::Array::New(info.Env(), 3);
  result.Set(uint32_t(0), wrap_tensor(info.Env(), dq));
  result.Set(uint32_t(1), wrap_tensor(info.Env(), dk));
  result.Set(uint32_t(2), wrap_tensor(info.Env(), dv));
  return result;
}

// rope(x, positions, theta, inverse)
Napi::Value rope(const Napi::CallbackInfo& info) {
  return wrap_tensor(info.Env(),
                     ops::rope(context(info.Env()), tensor_arg(info, 0, "rope", "x"),
                               tensor_arg(info, 1, "rope", "positions"), number_arg(info[2], "rope", "theta"),
                               bool_arg(info[3], "rope", "inverse")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(attention, attention_forward, attention_backward, rope);

}  // namespace llmrec::addon

// Bindings of the gemm family.
#include <string>

#include "../abi/error.h"
#include "../ops/gemm.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

using kernels::Activation;

Activation activation_arg(const Napi::Value& value, const char* op) {
  return enum_arg(value, op, "activation", kernels::kActivationNames);
}

// gemm(a, b, c | null, bias | null, transA, transB, alpha, beta, activation, outDtype | null,
//      keepPreActivation) -> [out, preActivation | null]
Napi::Value gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ops::GemmOptions options;
  options.trans_a = bool_arg(info[4], "gemm", "transA");
  options.trans_b = bool_arg(info[5], "gemm", "transB");
  options.alpha = float(number_arg(info[6], "gemm", "alpha"));
  options.beta = float(number_arg(info[7], "gemm", "beta"));
  options.activation = activation_arg(info[8], "gemm");
  if (!info[9].IsNull() && !info[9].IsUndefined()) options.out_dtype = dtype_arg(info[9], "gemm", "outDtype");
  options.keep_pre_activation = bool_arg(info[10], "gemm", "keepPreActivation");
  ops::GemmResult result = ops::gemm(
      context(env), tensor_arg(info, 0, "gemm", "a"), tensor_arg(info, 1, "gemm", "b"),
      optional_tensor_arg(info, 2, "gemm", "c"), optional_tensor_arg(info, 3, "gemm", "bias"), options);
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(uint32_t(0), wrap_tensor(env, std::move(result.out)));
  pair.Set(uint32_t(1),
           result.pre_activation.defined() ? wrap_tensor(env, std::move(result.pre_activation)) : env.Null());
  return pair;
}

// epilogueBackward(activation, preActivation, grad)
Napi::Value epilogue_backward(const Napi::CallbackInfo& info) {
  const char* op = "epilogueBackward";
  return wrap_tensor(info.Env(), ops::epilogue_backward(context(info.Env()), activation_arg(info[0], op),
                                                        tensor_arg(info, 1, op, "preActivation"),
                                                        tensor_arg(info, 2, op, "grad")));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(gemm, gemm, epilogue_backward);

}  // namespace llmrec::addon

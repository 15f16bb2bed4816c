// Bindings of the softmax family.
#include "../ops/softmax.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

// softmax(x, log)
Napi::Value softmax(const Napi::CallbackInfo& info) {
  const bool log = bool_arg(info[1], "softmax", "log");
  return wrap_tensor(info.Env(), ops::softmax(context(info.Env()),
                                              tensor_arg(info, 0, log ? "logSoftmax" : "softmax", "x"), log));
}

// softmaxBackward(gradOut, out, log)
Napi::Value softmax_backward(const Napi::CallbackInfo& info) {
  const bool log = bool_arg(info[2], "softmax backward", "log");
  const char* op = log ? "logSoftmax backward" : "softmax backward";
  return wrap_tensor(info.Env(),
                     ops::softmax_backward(context(info.Env()), tensor_arg(info, 0, op, "gradOut"),
                                           tensor_arg(info, 1, op, "out"), log));
}

}  // namespace

LLMREC_REGISTER_BINDINGS(softmax, softmax, softmax_backward);

}  // namespace llmrec::addon

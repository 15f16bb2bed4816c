// Bindings of the embedding family.
#include "../ops/embedding.h"
#include "addon.h"
#include "options.h"

namespace llmrec::addon {
namespace {

Napi::Value tensor_or_null(Napi::Env env, const Tensor& tensor) {
  return tensor.defined() ? wrap_tensor(env, tensor) : env.Null();
}

// embedding(indices, table, positions | null, options)
Napi::Value embedding(const Napi::CallbackInfo& info) {
  const char* op = "embedding";
  const auto options = read_options<kernels::EmbeddingOptions>(info, 3, op);
  return wrap_tensor(info.Env(), ops::embedding(context(info.Env()), tensor_arg(info, 0, op, "indices"),
                                                tensor_arg(info, 1, op, "table"),
                                                optional_tensor_arg(info, 2, op, "positions"), options));
}

// embeddingBackward(indices, gradOut, rows, positionRows, options, needTable, needPositions)
Napi::Value embedding_backward(const Napi::CallbackInfo& info) {
  const char* op = "embedding backward";
  const auto options = read_options<kernels::EmbeddingOptions>(info, 4, op);
  const ops::EmbeddingGrads grads = ops::embedding_backward(
      context(info.Env()), tensor_arg(info, 0, op, "indices"), tensor_arg(info, 1, op, "gradOut"),
      integer_arg(info[2], op, "rows"), integer_arg(info[3], op, "positionRows"), options,
      bool_arg(info[5], op, "needTable"), bool_arg(info[6], op, "needPositions"));
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, tensor_or_null(info.Env(), grads.table));
  result.Set(1u, tensor_or_null(info.Env(), grads.positions));
  return result;
}

}  // namespace

LLMREC_REGISTER_BINDINGS(embedding, embedding, embedding_backward);

}  // namespace llmrec::addon

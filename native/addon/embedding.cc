// Bindings of the embedding family.
#include "../ops/embedding.h"
#include "addon.h"

namespace llmrec::addon {
namespace {

ops::EmbeddingOptions options_arg(const Napi::CallbackInfo& info, size_t at, const char* op) {
  ops::EmbeddingOptions options;
  options.padding_idx = integer_arg(info[at], op, "paddingIdx");
  options.scale = float(number_arg(info[at + 1], op, "scale"));
  return options;
}

Napi::Value tensor_or_null(Napi::Env env, const Tensor& tensor) {
  return tensor.defined() ? wrap_tensor(env, tensor) : env.Null();
}

// embedding(indices, table, positions | null, paddingIdx, scale)
Napi::Value embedding(const Napi::CallbackInfo& info) {
  const char* op = "embedding";
  ops::EmbeddingOptions options = options_arg(info, 3, op);
  options.positions = optional_tensor_arg(info, 2, op, "positions");
  return wrap_tensor(info.Env(), ops::embedding(context(info.Env()), tensor_arg(info, 0, op, "indices"),
                                                tensor_arg(info, 1, op, "table"), options));
}

// embeddingBackward(indices, gradOut, rows, positionRows, paddingIdx, scale, needTable, needPositions)
Napi::Value embedding_backward(const Napi::CallbackInfo& info) {
  const char* op = "embedding backward";
  const ops::EmbeddingOptions options = options_arg(info, 4, op);
  const ops::EmbeddingGrads grads = ops::embedding_backward(
      context(info.Env()), tensor_arg(info, 0, op, "indices"), tensor_arg(info, 1, op, "gradOut"),
      integer_arg(info[2], op, "rows"), integer_arg(info[3], op, "positionRows"), options,
      bool_arg(info[6], op, "needTable"), bool_arg(info[7], op, "needPositions"));
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, tensor_or_null(info.Env(), grads.table));
  result.Set(1u, tensor_or_null(info.Env(), grads.positions));
  return result;
}

void init(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "embedding", embedding);
  export_function(env, exports, "embeddingBackward", embedding_backward);
}

}  // namespace

LLMREC_REGISTER_BINDINGS(embedding, init);

}  // namespace llmrec::addon

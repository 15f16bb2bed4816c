// Glue shared by the dense families' bindings: ops that return several tensors hand JS an array
// in which an absent tensor is null.
#pragma once

#include <initializer_list>

#include "addon.h"

namespace llmrec::addon {

inline Napi::Value tensor_list(Napi::Env env, std::initializer_list<Tensor> tensors) {
  Napi::Array list = Napi::Array::New(env, tensors.size());
  uint32_t i = 0;
  for (const Tensor& t : tensors) list.Set(i++, t.defined() ? wrap_tensor(env, t) : env.Null());
  return list;
}

}  // namespace llmrec::addon

// The JS-visible handle of a native tensor. Several handles may share one storage (views, the
// copies autograd saves); dispose() drops this handle's reference at once, and the garbage
// collector's finalizer is only the last resort.
#pragma once

// An error that can no longer be thrown into JS (the environment of a terminated worker is being
// torn down) is dropped instead of escaping as a C++ exception that aborts the whole process.
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

#include <cstdint>
#include <vector>

#include "../core/context.h"
#include "../core/tensor.h"

namespace llmrec::addon {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function define_class(Napi::Env env);
  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  // The tensor, or a JS Error naming `op` and `arg` when this handle was disposed.
  const Tensor& tensor(const char* op, const char* arg) const;
  void adopt(Tensor tensor, Napi::Env env, bool new_memory);

 private:
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value dtype(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value numel(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value share(const Napi::CallbackInfo& info);
  Napi::Value reshape(const Napi::CallbackInfo& info);
  Napi::Value to(const Napi::CallbackInfo& info);
  Napi::Value data_sync(const Napi::CallbackInfo& info);
  Napi::Value data(const Napi::CallbackInfo& info);
  Napi::Value write(const Napi::CallbackInfo& info);

  void release(Napi::Env env);

  Tensor tensor_;
  bool disposed_ = true;  // until adopt() gives it a tensor
  int64_t reported_external_bytes_ = 0;
};

// Converts a typed array into the tensor's element layout (checking length and type), and
// writes such staged bytes into the tensor in stream order.
std::vector<uint8_t> stage_host_values(const Napi::Value& value, const Tensor& t, const char* op);
void write_host_values(Context& ctx, const Tensor& t, std::vector<uint8_t> staged, const char* op);

}  // namespace llmrec::addon

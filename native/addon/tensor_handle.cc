// The tensor handle: the JS object behind every Tensor (shape, dtype, device, read-back, write).
#include "tensor_handle.h"

#include <cstring>
#include <future>
#include <vector>

#include "../abi/error.h"
#include "../core/copy.h"
#include "../cpu/parallel.h"
#include "addon.h"
#ifdef LLMREC_WITH_CUDA
#include "../core/cuda_backend.h"
#endif

namespace llmrec::addon {

// ---------------------------------------------------------------------------------------------
// TensorHandle

namespace {

// Host bytes of a read-back: bf16 comes back as f32 unless raw bits were asked for.
size_t host_element_size(DType dtype, bool raw) {
  return dtype == DType::BF16 && !raw ? 4 : dtype_size(dtype);
}

void copy_to_js_layout(const Tensor& t, const void* src, void* dst, bool raw) {
  if (t.dtype == DType::BF16 && !raw) {
    const uint16_t* in = static_cast<const uint16_t*>(src);
    float* out = static_cast<float*>(dst);
    for (int64_t i = 0; i < t.numel; ++i) out[i] = bf16_bits_to_f32(in[i]);
  } else {
    std::memcpy(dst, src, t.nbytes());
  }
}

Napi::Value typed_array_over(Napi::Env env, Napi::ArrayBuffer buffer, DType dtype, size_t numel, bool raw) {
  switch (dtype) {
    case DType::F32: return Napi::Float32Array::New(env, numel, buffer, 0);
    case DType::I32: return Napi::Int32Array::New(env, numel, buffer, 0);
    case DType::BF16:
      if (raw) return Napi::Uint16Array::New(env, numel, buffer, 0);
      return Napi::Float32Array::New(env, numel, buffer, 0);
  }
  return env.Undefined();
}

// Reads a tensor back without blocking the JS thread. The copy is queued when data() is
// called, so the result reflects exactly the work queued before it.
class ReadbackWorker : public Napi::AsyncWorker {
 public:
  ReadbackWorker(Napi::Env env, std::shared_ptr<Context> ctx, const Tensor& tensor, bool raw)
      : Napi::AsyncWorker(env, "llmrec.data"),
        deferred_(Napi::Promise::Deferred::New(env)),
        ctx_(std::move(ctx)),
        tensor_(tensor),
        raw_(raw) {
    Napi::ArrayBuffer buffer =
        Napi::ArrayBuffer::New(env, size_t(tensor.numel) * host_element_size(tensor.dtype, raw));
    host_ = buffer.Data();
    buffer_ = Napi::Persistent(buffer);
    if (tensor.device().is_cpu()) {
      std::promise<void> copied;
      done_ = copied.get_future();
      Tensor source = tensor_;
      void* host = host_;
      bool keep_raw = raw_;
      ctx_->cpu_stream().enqueue(
          [source, host, keep_raw, copied = std::make_shared<std::promise<void>>(std::move(copied))] {
            // Runs after every earlier op; a failure there does not stop the copy.
            if (source.numel > 0) copy_to_js_layout(source, source.data(), host, keep_raw);
            copied->set_value();
          });
    }
#ifdef LLMREC_WITH_CUDA
    else {
      readback_ =
          ctx_->cuda(tensor.device().index, "data").begin_readback(tensor.data(), tensor.nbytes(), "data");
    }
#endif
  }

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      if (tensor_.device().is_cpu()) {
        done_.wait();
        ctx_->raise_if_poisoned(tensor_);
      }
#ifdef LLMREC_WITH_CUDA
      else {
        std::vector<char> raw_bytes(tensor_.nbytes());
        ctx_->cuda(tensor_.device().index, "data").finish_readback(*readback_, raw_bytes.data());
        ctx_->raise_if_poisoned(tensor_);
        copy_to_js_layout(tensor_, raw_bytes.data(), host_, raw_);
      }
#endif
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(typed_array_over(env, buffer_.Value(), tensor_.dtype, size_t(tensor_.numel), raw_));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Context> ctx_;
  Tensor tensor_;
  bool raw_;
  void* host_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  std::future<void> done_;
#ifdef LLMREC_WITH_CUDA
  std::shared_ptr<CudaDevice::Readback> readback_;
#endif
};

}  // namespace

Napi::Function TensorHandle::define_class(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&TensorHandle::shape>("shape"),
                         InstanceAccessor<&TensorHandle::dtype>("dtype"),
                         InstanceAccessor<&TensorHandle::device>("device"),
                         InstanceAccessor<&TensorHandle::numel>("numel"),
                         InstanceAccessor<&TensorHandle::disposed>("disposed"),
                         InstanceMethod<&TensorHandle::dispose>("dispose"),
                         InstanceMethod<&TensorHandle::share>("share"),
                         InstanceMethod<&TensorHandle::reshape>("reshape"),
                         InstanceMethod<&TensorHandle::to>("to"),
                         InstanceMethod<&TensorHandle::data_sync>("dataSync"),
                         InstanceMethod<&TensorHandle::data>("data"),
                         InstanceMethod<&TensorHandle::write>("write"),
                     });
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  if (!instance(info.Env()).wrapping_tensor)
    throw Napi::TypeError::New(
        info.Env(),
        "NativeTensor cannot be constructed from JS; make tensors with tensor(), zeros() "
        "and the other factories");
}

// The finalizer: the last resort for handles nobody disposed.
TensorHandle::~TensorHandle() { release(Env()); }

void TensorHandle::adopt(Tensor tensor, Napi::Env env, bool new_memory) {
  tensor_ = std::move(tensor);
  disposed_ = false;
  // Tell V8 about host memory this handle brought into being, so the collector feels the
  // pressure of CPU tensors that were never disposed.
  if (new_memory && tensor_.storage && tensor_.device().is_cpu()) {
    reported_external_bytes_ = int64_t(tensor_.storage->bytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, reported_external_bytes_);
  }
}

void TensorHandle::release(Napi::Env env) {
  if (reported_external_bytes_ != 0) {
    // The C call, not the C++ wrapper: this runs in the finaliser too, where a throw would abort
    // the process (a worker being terminated cannot adjust its heap's accounting any more).
    int64_t adjusted = 0;
    napi_adjust_external_memory(env, -reported_external_bytes_, &adjusted);
    reported_external_bytes_ = 0;
  }
  tensor_ = Tensor{};
  disposed_ = true;
}

const Tensor& TensorHandle::tensor(const char* op, const char* arg) const {
  if (disposed_)
    fail(op, ": '", arg, "' was disposed and cannot be used any more (dispose() or tidy() released it)");
  return tensor_;
}

Napi::Value TensorHandle::shape(const Napi::CallbackInfo& info) {
  return guard(info.Env(),
               [&]() -> Napi::Value { return shape_to_js(info.Env(), tensor("shape", "tensor").shape); });
}

Napi::Value TensorHandle::dtype(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtype_name(tensor("dtype", "tensor").dtype));
  });
}

Napi::Value TensorHandle::device(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), tensor("device", "tensor").device().str());
  });
}

Napi::Value TensorHandle::numel(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), double(tensor("numel", "tensor").numel));
  });
}

Napi::Value TensorHandle::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_);
}

Napi::Value TensorHandle::dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorHandle::share(const Napi::CallbackInfo& info) {
  return guard(info.Env(),
               [&]() -> Napi::Value { return wrap_tensor(info.Env(), tensor("share", "tensor"), false); });
}

Napi::Value TensorHandle::reshape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const Tensor& t = tensor("reshape", "tensor");
    return wrap_tensor(info.Env(), reshape_view(t, shape_arg(info[0], "reshape", "shape"), "reshape"), false);
  });
}

Napi::Value TensorHandle::to(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const Tensor& t = tensor("to", "tensor");
    Device target = device_arg(info[0], "to", "device");
    return wrap_tensor(info.Env(), copy_to(context(info.Env()), t, target));
  });
}

Napi::Value TensorHandle::data_sync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const Tensor& t = tensor("dataSync", "tensor");
    const bool raw = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, size_t(t.numel) * host_element_size(t.dtype, raw));
    Context& ctx = context(env);
    if (t.device().is_cpu()) {
      ctx.cpu_stream().synchronize_quietly();
      ctx.raise_if_poisoned(t);
      if (t.numel > 0) copy_to_js_layout(t, t.data(), buffer.Data(), raw);
    } else {
#ifdef LLMREC_WITH_CUDA
      std::vector<char> raw_bytes(t.nbytes());
      ctx.cuda(t.device().index, "dataSync")
          .copy_to_host_blocking(raw_bytes.data(), t.data(), t.nbytes(), "dataSync");
      ctx.raise_if_poisoned(t);
      copy_to_js_layout(t, raw_bytes.data(), buffer.Data(), raw);
#endif
    }
    return typed_array_over(env, buffer, t.dtype, size_t(t.numel), raw);
  });
}

Napi::Value TensorHandle::data(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const Tensor& t = tensor("data", "tensor");
    const bool raw = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    auto* worker = new ReadbackWorker(info.Env(), instance(info.Env()).ctx, t, raw);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

// Overwrites the tensor's elements, in stream order, from a typed array of the same length.
Napi::Value TensorHandle::write(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const Tensor& t = tensor("write", "tensor");
    write_host_values(context(info.Env()), t, stage_host_values(info[0], t, "write"), "write");
    return info.Env().Undefined();
  });
}

std::vector<uint8_t> stage_host_values(const Napi::Value& value, const Tensor& t, const char* op) {
  if (!value.IsTypedArray()) fail(op, ": 'values' must be a typed array");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (int64_t(array.ElementLength()) != t.numel)
    fail(op, ": 'values' has ", array.ElementLength(), " elements but the tensor ", shape_str(t.shape),
         " has ", t.numel);
  const napi_typedarray_type type = array.TypedArrayType();
  const uint8_t* src = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  std::vector<uint8_t> staged(t.nbytes());
  const bool same_layout = (t.dtype == DType::F32 && type == napi_float32_array) ||
                           (t.dtype == DType::I32 && type == napi_int32_array) ||
                           (t.dtype == DType::BF16 && type == napi_uint16_array);
  if (same_layout) {
    if (!staged.empty()) std::memcpy(staged.data(), src, staged.size());
  } else if (t.dtype == DType::BF16 && type == napi_float32_array) {
    const float* in = reinterpret_cast<const float*>(src);
    uint16_t* out = reinterpret_cast<uint16_t*>(staged.data());
    for (int64_t i = 0; i < t.numel; ++i) out[i] = f32_to_bf16_bits(in[i]);
  } else {
    fail(op, ": a ", dtype_name(t.dtype), " tensor takes ",
         t.dtype == DType::F32   ? "a Float32Array"
         : t.dtype == DType::I32 ? "an Int32Array"
                                 : "a Float32Array or a Uint16Array of raw bf16 bits");
  }
  return staged;
}

void write_host_values(Context& ctx, const Tensor& t, std::vector<uint8_t> staged, const char* op) {
  t.storage->produced = true;  // by the host: no op's failure can spoil these values
  if (staged.empty()) return;
  if (t.device().is_cpu()) {
    Tensor target = t;
    ctx.cpu_stream().enqueue(
        [target, staged = std::move(staged)] { std::memcpy(target.data(), staged.data(), staged.size()); });
    return;
  }
#ifdef LLMREC_WITH_CUDA
  ctx.cuda(t.device().index, op).copy_to_device(t.data(), staged.data(), staged.size(), op);
#else
  (void)op;
#endif
}

}  // namespace llmrec::addon

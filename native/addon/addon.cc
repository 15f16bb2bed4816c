// Module initialisation, argument conversion and the tensor handle.
#include "addon.h"

#include <cmath>
#include <cstring>
#include <future>
#include <vector>

#include "../core/error.h"
#include "../cpu/isa.h"
#include "../cpu/parallel.h"
#include "../ops/elementwise.h"
#include "tensor_handle.h"
#ifdef LLMREC_WITH_CUDA
#include "../core/cuda_backend.h"
#endif

namespace llmrec::addon {

// ---------------------------------------------------------------------------------------------
// Registry and instance data

namespace {
struct Registered {
  const char* family;
  BindingsInit init;
};
std::vector<Registered>& registered_bindings() {
  static std::vector<Registered> list;
  return list;
}
}  // namespace

BindingsRegistration::BindingsRegistration(const char* family, BindingsInit init) {
  registered_bindings().push_back({family, init});
}

InstanceData& instance(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

void export_function(Napi::Env env, Napi::Object exports, const char* name,
                     std::function<Napi::Value(const Napi::CallbackInfo&)> fn) {
  exports.Set(name, Napi::Function::New(
                        env,
                        [fn = std::move(fn)](const Napi::CallbackInfo& info) -> Napi::Value {
                          return guard(info.Env(), [&] { return fn(info); });
                        },
                        name));
}

// ---------------------------------------------------------------------------------------------
// Argument conversion

const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* arg) {
  Napi::Value value = info[index];
  if (!value.IsObject() ||
      !value.As<Napi::Object>().InstanceOf(instance(info.Env()).tensor_constructor.Value()))
    fail(op, ": '", arg, "' must be a Tensor");
  return TensorHandle::Unwrap(value.As<Napi::Object>())->tensor(op, arg);
}

const Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* op,
                                  const char* arg) {
  if (index >= info.Length() || info[index].IsUndefined() || info[index].IsNull()) return nullptr;
  return &tensor_arg(info, index, op, arg);
}

std::vector<const Tensor*> tensor_list_arg(const Napi::Value& value, const char* op, const char* arg,
                                           bool allow_null) {
  if (!value.IsArray()) fail(op, ": '", arg, "' must be an array of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  const Napi::Function& constructor = instance(value.Env()).tensor_constructor.Value();
  std::vector<const Tensor*> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (allow_null && (item.IsNull() || item.IsUndefined())) {
      tensors.push_back(nullptr);
      continue;
    }
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    if (!item.IsObject() || !item.As<Napi::Object>().InstanceOf(constructor))
      fail(op, ": '", name, "' must be a Tensor");
    tensors.push_back(&TensorHandle::Unwrap(item.As<Napi::Object>())->tensor(op, name.c_str()));
  }
  return tensors;
}

Shape shape_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsArray()) fail(op, ": '", arg, "' must be an array of non-negative integers");
  Napi::Array array = value.As<Napi::Array>();
  Shape shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) fail(op, ": '", arg, "'[", i, "] is not a number");
    double extent = item.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(extent) || extent < 0 || std::floor(extent) != extent)
      fail(op, ": '", arg, "'[", i, "] = ", extent, " is not a non-negative integer");
    if (extent > double(kMaxElements))
      fail(op, ": '", arg, "'[", i, "] = ", extent, " is too large and would overflow memory");
    shape.push_back(int64_t(extent));
  }
  if (shape.size() > 16) fail(op, ": '", arg, "' has ", shape.size(), " axes; at most 16 are supported");
  checked_numel(shape, op);
  return shape;
}

DType dtype_arg(const Napi::Value& value, const char* op, const char* arg) {
  DType dtype;
  if (!value.IsString() || !parse_dtype(value.As<Napi::String>().Utf8Value(), &dtype))
    fail(op, ": '", arg, "' must be 'f32', 'bf16' or 'i32'");
  return dtype;
}

Device device_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsString()) fail(op, ": '", arg, "' must be a device string such as 'cpu' or 'cuda:0'");
  try {
    return parse_device(value.As<Napi::String>().Utf8Value());
  } catch (const Error& e) {
    fail(op, ": ", e.what());
  }
}

double number_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsNumber()) fail(op, ": '", arg, "' must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

int64_t integer_arg(const Napi::Value& value, const char* op, const char* arg) {
  double v = number_arg(value, op, arg);
  if (!std::isfinite(v) || std::floor(v) != v || std::fabs(v) > double(kMaxElements))
    fail(op, ": '", arg, "' must be an integer, got ", v);
  return int64_t(v);
}

bool bool_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsBoolean()) fail(op, ": '", arg, "' must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (!value.IsString()) fail(op, ": '", arg, "' must be a string");
  return value.As<Napi::String>().Utf8Value();
}

uint64_t u64_arg(const Napi::Value& value, const char* op, const char* arg) {
  if (value.IsBigInt()) {
    bool lossless = false;
    uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) fail(op, ": '", arg, "' must be a bigint in [0, 2^64)");
    return v;
  }
  if (!value.IsNumber()) fail(op, ": '", arg, "' must be a non-negative integer or a bigint");
  double v = value.As<Napi::Number>().DoubleValue();
  if (std::isnan(v)) fail(op, ": '", arg, "' is NaN; pass a non-negative integer");
  if (!std::isfinite(v) || v < 0 || std::floor(v) != v || v > double(kMaxElements))
    fail(op, ": '", arg, "' = ", v, " is not a non-negative integer up to 2^53");
  return uint64_t(v);
}

Napi::Array shape_to_js(Napi::Env env, const Shape& shape) {
  Napi::Array array = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) array.Set(uint32_t(i), Napi::Number::New(env, double(shape[i])));
  return array;
}

Napi::Value wrap_tensor(Napi::Env env, Tensor tensor, bool new_memory) {
  InstanceData& data = instance(env);
  // Only this function may construct a handle: one made by `new` from JS would hold no tensor.
  data.wrapping_tensor = true;
  Napi::Object object;
  try {
    object = data.tensor_constructor.New({});
  } catch (...) {
    data.wrapping_tensor = false;
    throw;
  }
  data.wrapping_tensor = false;
  TensorHandle::Unwrap(object)->adopt(std::move(tensor), env, new_memory);
  return object;
}

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
    return wrap_tensor(info.Env(), ops::copy_to(context(info.Env()), t, target));
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

// ---------------------------------------------------------------------------------------------
// Module-level functions of the core

namespace {

Napi::Object stats_to_js(Napi::Env env, const MemoryStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesInUse", double(s.bytes_in_use));
  o.Set("peakBytesInUse", double(s.peak_bytes_in_use));
  o.Set("bytesReserved", double(s.bytes_reserved));
  o.Set("liveBlocks", double(s.live_blocks));
  o.Set("totalAllocations", double(s.total_allocations));
  o.Set("cacheHits", double(s.cache_hits));
  o.Set("deviceAllocations", double(s.device_allocations));
  o.Set("deviceFrees", double(s.device_frees));
  return o;
}

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", LLMREC_VERSION);
  o.Set("buildSystem", LLMREC_BUILD_SYSTEM);
  o.Set("buildType", LLMREC_BUILD_TYPE);
  o.Set("compiler", __VERSION__);
  o.Set("napiVersion", NAPI_VERSION);
  Napi::Object backends = Napi::Object::New(env);
  backends.Set("cpu", true);
#ifdef LLMREC_WITH_CUDA
  backends.Set("cuda", true);
  o.Set("cudaVersion", LLMREC_CUDA_VERSION);
  o.Set("cudaArchitectures", LLMREC_CUDA_ARCHITECTURES);
#else
  backends.Set("cuda", false);
#endif
  o.Set("backends", backends);
  return o;
}

Napi::Value devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("available", true);
  cpu.Set("threads", cpu::num_threads());
  cpu.Set("isa", cpu::isa_name(cpu::vector_isa()));
  cpu.Set("avx512", cpu::cpu_has_avx512());
  o.Set("cpu", cpu);
  Napi::Object cuda = Napi::Object::New(env);
  Napi::Array list = Napi::Array::New(env);
#ifdef LLMREC_WITH_CUDA
  const CudaDiscovery& d = discover_cuda();
  cuda.Set("compiled", true);
  cuda.Set("available", d.usable);
  if (!d.usable) cuda.Set("reason", d.reason);
  cuda.Set("driverVersion", d.driver_version);
  cuda.Set("runtimeVersion", d.runtime_version);
  for (size_t i = 0; i < d.devices.size(); ++i) {
    const CudaDeviceInfo& dev = d.devices[i];
    Napi::Object g = Napi::Object::New(env);
    g.Set("id", "cuda:" + std::to_string(dev.index));
    g.Set("name", dev.name);
    g.Set("totalMemory", double(dev.total_memory));
    g.Set("computeCapability", std::to_string(dev.compute_major) + "." + std::to_string(dev.compute_minor));
    g.Set("multiprocessors", dev.multiprocessors);
    g.Set("l2CacheBytes", double(dev.l2_cache_bytes));
    g.Set("supported", dev.supported);
    if (!dev.supported) g.Set("reason", dev.unsupported_why);
    list.Set(uint32_t(i), g);
  }
#else
  cuda.Set("compiled", false);
  cuda.Set("available", false);
  cuda.Set(
      "reason",
      "CUDA not compiled in: this build (" LLMREC_BUILD_SYSTEM
      ") has no CUDA backend; rebuild with `LLMREC_CUDA=on npm run build:native` where nvcc and CMake exist");
#endif
  cuda.Set("devices", list);
  o.Set("cuda", cuda);
  return o;
}

Napi::Value from_typed_array(const Napi::CallbackInfo& info) {
  const char* op = "tensor";
  const Shape shape = shape_arg(info[1], op, "shape");
  const DType dtype = dtype_arg(info[2], op, "dtype");
  const Device device = device_arg(info[3], op, "device");
  Context& ctx = context(info.Env());
  Tensor t = ctx.empty(shape, dtype, device, op);
  write_host_values(ctx, t, stage_host_values(info[0], t, op), op);
  return wrap_tensor(info.Env(), std::move(t));
}

Napi::Value empty(const Napi::CallbackInfo& info) {
  Context& ctx = context(info.Env());
  Tensor t = ctx.empty(shape_arg(info[0], "empty", "shape"), dtype_arg(info[1], "empty", "dtype"),
                       device_arg(info[2], "empty", "device"), "empty");
  t.storage->produced = true;  // its contents are the caller's, whatever work reads them first
  return wrap_tensor(info.Env(), std::move(t));
}

Napi::Value full(const Napi::CallbackInfo& info) {
  Context& ctx = context(info.Env());
  const Shape shape = shape_arg(info[0], "full", "shape");
  const double value = number_arg(info[1], "full", "value");
  const DType dtype = dtype_arg(info[2], "full", "dtype");
  const Device device = device_arg(info[3], "full", "device");
  Tensor t = ctx.empty(shape, dtype, device, "full");
  ops::fill(ctx, t, value);
  return wrap_tensor(info.Env(), t);
}

Napi::Value fill_(const Napi::CallbackInfo& info) {
  const Tensor& t = tensor_arg(info, 0, "fill_", "tensor");
  ops::fill(context(info.Env()), t, number_arg(info[1], "fill_", "value"));
  return info.Env().Undefined();
}

// random(shape, 'uniform'|'normal', a, b, seed, offset, dtype, device)
Napi::Value random(const Napi::CallbackInfo& info) {
  const std::string kind = string_arg(info[1], "random", "distribution");
  kernels::RandomDistribution distribution;
  if (kind == "uniform")
    distribution = kernels::RandomDistribution::Uniform;
  else if (kind == "normal")
    distribution = kernels::RandomDistribution::Normal;
  else
    fail("random: distribution must be 'uniform' or 'normal', got '", kind, "'");
  const char* op = distribution == kernels::RandomDistribution::Uniform ? "rand" : "randn";
  return wrap_tensor(
      info.Env(),
      ops::random(context(info.Env()), shape_arg(info[0], op, "shape"), dtype_arg(info[6], op, "dtype"),
                  device_arg(info[7], op, "device"), distribution, float(number_arg(info[2], op, "a")),
                  float(number_arg(info[3], op, "b")), u64_arg(info[4], op, "seed"),
                  u64_arg(info[5], op, "offset")));
}

Napi::Value memory(const Napi::CallbackInfo& info) {
  return stats_to_js(info.Env(), context(info.Env()).memory(device_arg(info[0], "memory", "device")));
}

Napi::Value empty_cache(const Napi::CallbackInfo& info) {
  context(info.Env()).empty_cache(device_arg(info[0], "emptyCache", "device"));
  return info.Env().Undefined();
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  context(info.Env()).synchronize(device_arg(info[0], "synchronize", "device"), "synchronize");
  return info.Env().Undefined();
}

Napi::Value set_poison(const Napi::CallbackInfo& info) {
  set_allocation_poison(bool_arg(info[0], "setAllocationPoison", "enabled"));
  return info.Env().Undefined();
}

void register_core(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "setAllocationPoison", set_poison);
  export_function(env, exports, "buildInfo", build_info);
  export_function(env, exports, "devices", devices);
  export_function(env, exports, "fromTypedArray", from_typed_array);
  export_function(env, exports, "empty", empty);
  export_function(env, exports, "full", full);
  export_function(env, exports, "fill_", fill_);
  export_function(env, exports, "random", random);
  export_function(env, exports, "memory", memory);
  export_function(env, exports, "emptyCache", empty_cache);
  export_function(env, exports, "synchronize", synchronize);
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  data->ctx = std::make_shared<Context>();
  Napi::Function ctor = TensorHandle::define_class(env);
  data->tensor_constructor = Napi::Persistent(ctor);
  env.SetInstanceData(data);
  // When a worker's environment is torn down (terminate() included), queued CPU work must finish
  // before its heap goes: a queued read-back writes into a JS ArrayBuffer. The hook holds the
  // context itself, so it does not depend on the order of teardown.
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        auto* ctx = static_cast<std::shared_ptr<Context>*>(arg);
        (*ctx)->cpu_stream().synchronize_quietly();
        delete ctx;
      },
      new std::shared_ptr<Context>(data->ctx));
  exports.Set("NativeTensor", ctor);
  register_core(env, exports);
  for (const Registered& r : registered_bindings()) r.init(env, exports);
  return exports;
}

}  // namespace
}  // namespace llmrec::addon

static Napi::Object InitLlmrec(Napi::Env env, Napi::Object exports) {
  return llmrec::addon::init(env, exports);
}
NODE_API_MODULE(llmrec, InitLlmrec)

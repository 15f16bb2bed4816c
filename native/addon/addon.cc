// Module initialisation: the bindings registry, instance data and init. Argument conversion is
// in args.cc, the tensor handle in tensor_handle.cc, the core's own functions in
// core_functions.cc and each family's bindings in <family>.cc.
#include "addon.h"

#include <memory>
#include <vector>

#include "tensor_handle.h"

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

namespace {

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

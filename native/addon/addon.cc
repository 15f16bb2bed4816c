// Module initialisation: the bindings registry, instance data and init. Argument conversion is
// in args.cc, the tensor handle in tensor_handle.cc, the core's own functions in
// core_functions.cc and each family's bindings in <family>.cc.
#include "addon.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tensor_handle.h"

namespace llmrec::addon {

// ---------------------------------------------------------------------------------------------
// Registry and instance data

namespace {
struct Registered {
  std::string js_name;
  BindingFn fn;
};
std::vector<Registered>& registered_bindings() {
  static std::vector<Registered> list;
  return list;
}

// attention_forward -> attentionForward.
std::string camel_case(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '_' && i + 1 < name.size())
      out += char(std::toupper(static_cast<unsigned char>(name[++i])));
    else
      out += name[i];
  }
  return out;
}
}  // namespace

BindingsRegistration::BindingsRegistration(const char* family, const char* names,
                                           std::initializer_list<BindingFn> functions) {
  std::vector<std::string> list;
  std::string name;
  for (const char* c = names;; ++c) {
    if (*c == ',' || *c == '\0') {
      list.push_back(camel_case(name));
      name.clear();
      if (*c == '\0') break;
    } else if (!std::isspace(static_cast<unsigned char>(*c))) {
      name += *c;
    }
  }
  if (list.size() != functions.size()) {
    std::fprintf(stderr, "llmrec: the bindings of %s list %zu names for %zu functions\n", family, list.size(),
                 functions.size());
    std::abort();
  }
  size_t i = 0;
  for (BindingFn fn : functions) registered_bindings().push_back({list[i++], fn});
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
  for (const Registered& r : registered_bindings()) export_function(env, exports, r.js_name.c_str(), r.fn);
  return exports;
}

}  // namespace
}  // namespace llmrec::addon

static Napi::Object InitLlmrec(Napi::Env env, Napi::Object exports) {
  return llmrec::addon::init(env, exports);
}
NODE_API_MODULE(llmrec, InitLlmrec)

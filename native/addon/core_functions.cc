// Module-level functions of the core: build and device information, tensor creation, memory,
// synchronisation and kernel variant selection.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "../abi/error.h"
#include "../abi/kernel_api.h"
#include "../core/poison.h"
#include "../cpu/isa.h"
#include "../cpu/parallel.h"
#include "../ops/elementwise.h"
#include "addon.h"
#include "tensor_handle.h"
#ifdef LLMREC_WITH_CUDA
#include "../core/cuda_backend.h"
#endif

namespace llmrec::addon {

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

Napi::Value kernel_variants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& table = kernel_variant_table();
  Napi::Array list = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", table[i].family);
    Napi::Array names = Napi::Array::New(env, table[i].variants.size());
    for (size_t v = 0; v < table[i].variants.size(); ++v) names.Set(uint32_t(v), table[i].variants[v]);
    o.Set("variants", names);
    o.Set("reference", table[i].variants[0]);
    o.Set("defaultRule", table[i].default_rule);
    const std::string selected = kernel_variant(table[i].family);
    o.Set("selected", selected.empty() ? env.Null() : Napi::String::New(env, selected));
    list.Set(uint32_t(i), o);
  }
  return list;
}

// setKernelVariant(family, name | null): null goes back to the launcher's default.
Napi::Value set_kernel_variant_fn(const Napi::CallbackInfo& info) {
  const char* op = "setKernelVariant";
  const std::string family = string_arg(info[0], op, "family");
  const std::string name = info[1].IsNull() || info[1].IsUndefined() ? "" : string_arg(info[1], op, "name");
  set_kernel_variant(family, name);
  return info.Env().Undefined();
}

// errorWindowsProbe(slots, steps, ready): drives the error tracking of asynchronous devices
// (core/poison.h) with real CPU tensors and a simulated device, so its logic is tested on every
// machine. Each step is an op, { touch: ids, fails: bool } (an id never touched before is a new
// output of the op, as in submit()), or 'check' (a read-back: close the window and settle it)
// or 'close' (a window closed but not yet settled). At the end every window is settled.
// Returns { errors: message or null per id, skipped: ops that were not run, deferred }.
const int probe_site = register_kernel_error_site("errorWindowsProbe: op {value} failed");

Napi::Value error_windows_probe(const Napi::CallbackInfo& info) {
  const char* op = "errorWindowsProbe";
  Napi::Env env = info.Env();
  const int slots = int(number_arg(info[0], op, "slots"));
  if (!info[1].IsArray()) fail(op, ": 'steps' must be an array");
  Napi::Array steps = info[1].As<Napi::Array>();
  Context& ctx = context(env);
  std::vector<KernelErrorRecord> device(size_t(std::max(slots, 0)), KernelErrorRecord{});
  // With `ready` the simulated device has finished each window's work by the time it is closed
  // (closing settles it at once); without, it is always busy (only reads settle windows).
  const bool ready = info[2].ToBoolean().Value();
  ErrorWindows windows(slots, [&device, ready](int count) -> ErrorWindows::Pending {
    auto copied = std::make_shared<std::vector<KernelErrorRecord>>(device.begin(), device.begin() + count);
    std::fill(device.begin(), device.begin() + count, KernelErrorRecord{});
    return {[copied] { return copied->data(); }, [ready] { return ready; }};
  });
  std::vector<Tensor> tensors;
  Napi::Array skipped = Napi::Array::New(env);
  for (uint32_t i = 0; i < steps.Length(); ++i) {
    Napi::Value step = steps.Get(i);
    if (step.IsString()) {
      const std::string what = step.As<Napi::String>().Utf8Value();
      if (what != "check" && what != "close") fail(op, ": step ", i, " must be 'check', 'close' or an op");
      const uint64_t window = windows.close();
      if (what == "check") windows.resolve_through(window);
      continue;
    }
    if (!step.IsObject() || !step.As<Napi::Object>().Get("touch").IsArray())
      fail(op, ": step ", i, " must be 'check', 'close' or { touch: ids, fails }");
    Napi::Array touch = step.As<Napi::Object>().Get("touch").As<Napi::Array>();
    std::vector<size_t> ids;
    for (uint32_t j = 0; j < touch.Length(); ++j) {
      ids.push_back(size_t(number_arg(touch.Get(j), op, "touch[]")));
      if (ids.back() > 4096) fail(op, ": ids must be at most 4096");
      while (tensors.size() <= ids.back()) tensors.push_back(ctx.empty({1}, DType::F32, Device::cpu(), op));
    }
    std::vector<const Tensor*> touched;
    for (size_t id : ids) touched.push_back(&tensors[id]);
    const int slot = windows.admit(PoisonFlow::of(touched));
    if (slot < 0) {
      skipped.Set(skipped.Length(), double(i));
      continue;
    }
    if (step.As<Napi::Object>().Get("fails").ToBoolean().Value() && device[size_t(slot)].site == 0)
      device[size_t(slot)] = KernelErrorRecord{probe_site, 0, (long long)i, 0};
  }
  windows.resolve_through(windows.close());
  const auto message = [&](const std::exception_ptr& error) -> Napi::Value {
    if (!error) return env.Null();
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return Napi::String::New(env, e.what());
    }
  };
  Napi::Array errors = Napi::Array::New(env, tensors.size());
  for (size_t id = 0; id < tensors.size(); ++id)
    errors.Set(uint32_t(id), message(tensors[id].storage->poison()->error()));
  Napi::Object result = Napi::Object::New(env);
  result.Set("errors", errors);
  result.Set("skipped", skipped);
  result.Set("deferred", message(windows.take_error()));
  return result;
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "errorWindowsProbe", error_windows_probe);
  export_function(env, exports, "kernelVariants", kernel_variants);
  export_function(env, exports, "setKernelVariant", set_kernel_variant_fn);
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

}  // namespace llmrec::addon

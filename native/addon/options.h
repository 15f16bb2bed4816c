// Option objects crossing N-API by name (sharp's pattern): an op's options struct lists its
// fields once, `template <class F> void fields(F& f)` calling f("jsName", member) for each,
// and read_options() fills it from a plain JS object. A missing field, a field of the wrong
// kind and a field the op does not know are each an Error that names the field:
//
//   struct AttentionOptions {
//     bool causal = false;
//     template <class F> void fields(F& f) { f("causal", causal); }
//   };
//   auto options = read_options<ops::AttentionOptions>(info, 3, "attention");
//
// Field kinds: bool, double, std::optional<double> (null or undefined: empty), int64_t (an
// integer), uint64_t (a seed or offset: integer or bigint), std::string, const Tensor* (null or
// undefined: nullptr).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "addon.h"

namespace llmrec::addon {

class OptionsReader {
 public:
  OptionsReader(Napi::Env env, Napi::Object object, const char* op) : env_(env), object_(object), op_(op) {}

  template <class T>
  void operator()(const char* name, T& field) {
    names_.push_back(name);
    const std::string arg = std::string("options.") + name;
    Napi::Value value = object_.Get(name);
    read(value, arg.c_str(), field);
  }

  // Throws if the object holds a field that no call of operator() named.
  void reject_unknown() const;

 private:
  bool absent(const Napi::Value& value) const { return value.IsUndefined() || value.IsNull(); }
  void require(const Napi::Value& value, const char* arg) const;
  void read(const Napi::Value& value, const char* arg, bool& out) const;
  void read(const Napi::Value& value, const char* arg, double& out) const;
  void read(const Napi::Value& value, const char* arg, std::optional<double>& out) const;
  void read(const Napi::Value& value, const char* arg, int64_t& out) const;
  void read(const Napi::Value& value, const char* arg, uint64_t& out) const;
  void read(const Napi::Value& value, const char* arg, std::string& out) const;
  void read(const Napi::Value& value, const char* arg, const Tensor*& out) const;

  Napi::Env env_;
  Napi::Object object_;
  const char* op_;
  std::vector<std::string> names_;
};

// The options object at info[index], read into a value-initialised Options.
Napi::Object options_object(const Napi::CallbackInfo& info, size_t index, const char* op);

template <class Options>
Options read_options(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Options options{};
  OptionsReader reader(info.Env(), options_object(info, index, op), op);
  options.fields(reader);
  reader.reject_unknown();
  return options;
}

}  // namespace llmrec::addon

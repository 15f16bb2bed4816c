// Option objects crossing N-API by name (sharp's pattern): an op's options struct lists its
// fields once, `template <class F> void fields(F& f)` calling f("jsName", member) for each (or
// f("jsName", member, kNames) for an enum), and read_options() fills it from a plain JS object.
// A missing field, a field of the wrong kind, an enum name the op does not know and a field the
// op does not know are each an Error that names the field:
//
//   struct AttentionOptions {                      // native/kernels/attention.h
//     bool causal = false;
//     template <class F> void fields(F& f) { f("causal", causal); }
//   };
//   auto options = read_options<kernels::AttentionOptions>(info, 3, "attention");
//
// Field kinds: bool, float, double, std::optional<double> and Maybe<float>/Maybe<double> (null
// or undefined: absent), int32_t and int64_t (an integer), uint64_t (a seed or offset: integer or bigint),
// std::string, an enum with its EnumName table (a string), const Tensor* (null or undefined:
// nullptr). native/abi/options.h has the kernel-side types.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "../abi/options.h"
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

  template <class E, size_t N>
  void operator()(const char* name, E& field, const EnumName<E> (&names)[N]) {
    static_assert(std::is_enum_v<E>, "an options field with a names table must be an enum");
    names_.push_back(name);
    const std::string arg = std::string("options.") + name;
    Napi::Value value = object_.Get(name);
    require(value, arg.c_str());
    const std::string text = string_arg(value, op_, arg.c_str());
    if (!enum_value(names, text.c_str(), &field)) fail_enum(arg.c_str(), text, enum_choices(names));
  }

  // Throws if the object holds a field that no call of operator() named.
  void reject_unknown() const;

 private:
  bool absent(const Napi::Value& value) const { return value.IsUndefined() || value.IsNull(); }
  void require(const Napi::Value& value, const char* arg) const;
  [[noreturn]] void fail_enum(const char* arg, const std::string& text, const std::string& list) const;
  template <class T>
  void read(const Napi::Value& value, const char* arg, Maybe<T>& out) const {
    out.present = !absent(value);
    out.value = out.present ? T(number_arg(value, op_, arg)) : T(0);
  }
  void read(const Napi::Value& value, const char* arg, float& out) const;
  void read(const Napi::Value& value, const char* arg, int32_t& out) const;
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

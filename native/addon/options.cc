#include "options.h"

#include <limits>

#include "../abi/error.h"

namespace llmrec::addon {

Napi::Object options_object(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (index >= info.Length() || !info[index].IsObject() || info[index].IsArray())
    fail(op, ": the options argument (argument ", index + 1, ") must be an object");
  return info[index].As<Napi::Object>();
}

void OptionsReader::reject_unknown() const {
  Napi::Array keys = object_.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    bool known = false;
    for (const std::string& name : names_) known = known || name == key;
    if (known) continue;
    std::string list;
    for (const std::string& name : names_) list += (list.empty() ? "" : ", ") + name;
    fail(op_, ": options.", key, " is not an option of ", op_, " (its options: ", list, ")");
  }
}

void OptionsReader::require(const Napi::Value& value, const char* arg) const {
  if (value.IsUndefined()) fail(op_, ": ", arg, " is missing");
}

void OptionsReader::read(const Napi::Value& value, const char* arg, bool& out) const {
  require(value, arg);
  out = bool_arg(value, op_, arg);
}

void OptionsReader::fail_enum(const char* arg, const std::string& text, const std::string& list) const {
  fail(op_, ": '", arg, "' must be ", list, ", got '", text, "'");
}

void OptionsReader::read(const Napi::Value& value, const char* arg, int32_t& out) const {
  require(value, arg);
  const int64_t v = integer_arg(value, op_, arg);
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    fail(op_, ": '", arg, "' must fit in i32, got ", v);
  out = int32_t(v);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, float& out) const {
  require(value, arg);
  out = float(number_arg(value, op_, arg));
}

void OptionsReader::read(const Napi::Value& value, const char* arg, double& out) const {
  require(value, arg);
  out = number_arg(value, op_, arg);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, std::optional<double>& out) const {
  if (absent(value))
    out.reset();
  else
    out = number_arg(value, op_, arg);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, int64_t& out) const {
  require(value, arg);
  out = integer_arg(value, op_, arg);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, uint64_t& out) const {
  require(value, arg);
  out = u64_arg(value, op_, arg);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, std::string& out) const {
  require(value, arg);
  out = string_arg(value, op_, arg);
}

void OptionsReader::read(const Napi::Value& value, const char* arg, const Tensor*& out) const {
  out = absent(value) ? nullptr : &tensor_value(env_, value, op_, arg);
}

}  // namespace llmrec::addon

// Option structs that live in the kernel parameters. An op's options are one struct in its kernel
// header, listed once in `template <class F> void fields(F& f)` (f("jsName", member) for each);
// the addon reads a JS object into it by name (native/addon/options.h) and the kernel parameters
// carry it to both twins. So a new option touches its TypeScript type, this struct (the kernel
// parameters) and the kernels only.
//
// Field kinds the reader knows: bool, float, double, int64_t (an integer), uint64_t (a seed or an
// offset: integer or bigint), int32_t (an integer that fits), Maybe<float>/Maybe<double> (null or undefined:
// absent), an enum with a names table (a string), and const Tensor* (a tensor the op checks and turns into a
// data pointer; null or undefined: nullptr).
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

#include "host_device.h"

namespace llmrec {

struct Tensor;  // native/core/tensor.h: the kernels see only pointers the op fills in

// An optional number that device code can copy and read.
template <class T>
struct Maybe {
  bool present = false;
  T value = T(0);

  LLMREC_HD T value_or(T fallback) const { return present ? value : fallback; }
};

// One entry of an enum option's names table: the JS string and the value it selects.
template <class E>
struct EnumName {
  const char* name;
  E value;
};

// An enum's names table is a plain array of them, listed once beside the enum:
//   inline constexpr EnumName<Reduction> kReductionNames[] = {{"mean", Reduction::Mean}, ...};
// read as an option by `f("reduction", reduction, kReductionNames)`, as a plain argument by the
// addon's enum_arg, and named in errors by enum_name.

// The name of `value`, or `fallback` when the table has none.
template <class E, size_t N>
const char* enum_name(const EnumName<E> (&names)[N], E value, const char* fallback) {
  for (const EnumName<E>& entry : names)
    if (entry.value == value) return entry.name;
  return fallback;
}

// Sets *out to the value named `name`; false when no entry has that name.
template <class E, size_t N>
bool enum_value(const EnumName<E> (&names)[N], const char* name, E* out) {
  for (const EnumName<E>& entry : names)
    if (std::strcmp(entry.name, name) == 0) {
      *out = entry.value;
      return true;
    }
  return false;
}

// The names for an error message: "'a', 'b' or 'c'".
template <class E, size_t N>
std::string enum_choices(const EnumName<E> (&names)[N]) {
  std::string list;
  for (size_t i = 0; i < N; ++i)
    list += std::string(i == 0 ? "'" : i + 1 == N ? " or '" : ", '") + names[i].name + "'";
  return list;
}

}  // namespace llmrec

// Element types a tensor can hold, and the bf16 <-> f32 conversions every backend shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace llmrec {

enum class DType : int32_t { F32 = 0, BF16 = 1, I32 = 2 };

inline size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

inline const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
  }
  return "unknown";
}

inline bool parse_dtype(const std::string& name, DType* out) {
  if (name == "f32" || name == "float32")
    *out = DType::F32;
  else if (name == "bf16" || name == "bfloat16")
    *out = DType::BF16;
  else if (name == "i32" || name == "int32")
    *out = DType::I32;
  else
    return false;
  return true;
}

inline bool is_floating(DType dtype) { return dtype == DType::F32 || dtype == DType::BF16; }

// bf16 is the upper half of an IEEE f32; the device type __nv_bfloat16 has the same bits, so
// storage written on one backend reads correctly on the other.
inline float bf16_bits_to_f32(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

// Round to nearest, ties to even (what __float2bfloat16_rn does), keeping NaN a quiet NaN.
inline uint16_t f32_to_bf16_bits(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof word);
  if ((word & 0x7fffffffu) > 0x7f800000u) return uint16_t((word >> 16) | 0x0040u);
  uint32_t rounding_bias = 0x7fffu + ((word >> 16) & 1u);
  return uint16_t((word + rounding_bias) >> 16);
}

// visit_dtype(dtype, fn) calls fn with a null pointer of the C++ type of `dtype`, for dispatch
// on the element type; visit_floating does the same for the floating types (f32 or bf16; ops
// reject i32 before a floating kernel runs, so i32 does nothing there). BF16 is the twin's bf16
// type: native/cpu/numeric.h and cuda/common.cuh each define the two visitors as
// `inline constexpr DTypeVisitor<bf16> visit_dtype{}` and `FloatingVisitor<bf16> visit_floating{}`.
template <class BF16>
struct DTypeVisitor {
  template <class Fn>
  void operator()(DType dtype, Fn&& fn) const {
    switch (dtype) {
      case DType::F32: fn(static_cast<float*>(nullptr)); break;
      case DType::BF16: fn(static_cast<BF16*>(nullptr)); break;
      case DType::I32: fn(static_cast<int32_t*>(nullptr)); break;
    }
  }
};

template <class BF16>
struct FloatingVisitor {
  template <class Fn>
  void operator()(DType dtype, Fn&& fn) const {
    if (dtype == DType::F32)
      fn(static_cast<float*>(nullptr));
    else if (dtype == DType::BF16)
      fn(static_cast<BF16*>(nullptr));
  }
};

}  // namespace llmrec

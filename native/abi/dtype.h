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

}  // namespace llmrec

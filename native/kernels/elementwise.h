// Elementwise arithmetic, dtype casts, fills and axis reductions: the first kernel family, and
// the pattern every other family follows. One parameter struct per kernel, a CPU twin in
// native/cpu/elementwise.cc and a CUDA twin in cuda/elementwise.cu.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../abi/dtype.h"
#include "../abi/host_device.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"

namespace llmrec::kernels {

constexpr int kMaxBroadcastDims = 8;

enum class BinaryOp : int32_t { Add = 0, Sub, Mul, Div, Maximum, Minimum };
enum class UnaryOp : int32_t {
  Affine = 0,  // alpha * x + beta (scale is Affine with beta = 0)
  Neg,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Abs,
  Square,
  Reciprocal,
  Tanh,
  Sigmoid,
  Sign,  // -1, 0 or 1 (NaN stays NaN)
};
enum class ReduceOp : int32_t { Sum = 0, Mean, Max, Min };

// The JS names of the ops (the addon parses them; errors name the op by them).
inline constexpr EnumName<BinaryOp> kBinaryOpNames[] = {
    {"add", BinaryOp::Add}, {"sub", BinaryOp::Sub},         {"mul", BinaryOp::Mul},
    {"div", BinaryOp::Div}, {"maximum", BinaryOp::Maximum}, {"minimum", BinaryOp::Minimum}};
inline constexpr EnumName<UnaryOp> kUnaryOpNames[] = {
    {"affine", UnaryOp::Affine}, {"neg", UnaryOp::Neg},         {"exp", UnaryOp::Exp},
    {"log", UnaryOp::Log},       {"sqrt", UnaryOp::Sqrt},       {"rsqrt", UnaryOp::Rsqrt},
    {"abs", UnaryOp::Abs},       {"square", UnaryOp::Square},   {"reciprocal", UnaryOp::Reciprocal},
    {"tanh", UnaryOp::Tanh},     {"sigmoid", UnaryOp::Sigmoid}, {"sign", UnaryOp::Sign}};
inline constexpr EnumName<ReduceOp> kReduceOpNames[] = {
    {"sum", ReduceOp::Sum}, {"mean", ReduceOp::Mean}, {"max", ReduceOp::Max}, {"min", ReduceOp::Min}};

// The arithmetic of each op, compiled by both twins so they cannot drift apart: f32 for the
// floating types (bf16 converts at the load and store), exact integer rules for i32. NaN is
// tested as `a != a`, which both compilers keep without fast-math.
template <BinaryOp OP, class V>
LLMREC_HD V apply_binary(V a, V b) {
  if constexpr (OP == BinaryOp::Add) return a + b;
  if constexpr (OP == BinaryOp::Sub) return a - b;
  if constexpr (OP == BinaryOp::Mul) return a * b;
  if constexpr (OP == BinaryOp::Div) {
    if constexpr (std::is_integral_v<V>)
      return b == 0 ? V(0) : a / b;
    else
      return a / b;
  }
  if constexpr (OP == BinaryOp::Maximum) {
    if constexpr (std::is_integral_v<V>)
      return a > b ? a : b;
    else
      return (a > b || a != a) ? a : b;
  }
  if constexpr (OP == BinaryOp::Minimum) {
    if constexpr (std::is_integral_v<V>)
      return a < b ? a : b;
    else
      return (a < b || a != a) ? a : b;
  }
}

template <UnaryOp OP>
LLMREC_HD float apply_unary(float x, float alpha, float beta) {
  if constexpr (OP == UnaryOp::Affine) return alpha * x + beta;
  if constexpr (OP == UnaryOp::Neg) return -x;
  if constexpr (OP == UnaryOp::Exp) return expf(x);
  if constexpr (OP == UnaryOp::Log) return logf(x);
  if constexpr (OP == UnaryOp::Sqrt) return sqrtf(x);
  if constexpr (OP == UnaryOp::Rsqrt) return 1.0f / sqrtf(x);
  if constexpr (OP == UnaryOp::Abs) return fabsf(x);
  if constexpr (OP == UnaryOp::Square) return x * x;
  if constexpr (OP == UnaryOp::Reciprocal) return 1.0f / x;
  if constexpr (OP == UnaryOp::Tanh) return tanhf(x);
  if constexpr (OP == UnaryOp::Sigmoid) return 1.0f / (1.0f + expf(-x));
  if constexpr (OP == UnaryOp::Sign) return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;
}

// The ops an i32 tensor computes exactly, in integers (the op layer lets only these reach one);
// every other op goes through apply_unary in f32.
LLMREC_HD constexpr bool unary_exact_on_i32(UnaryOp op) {
  return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Square || op == UnaryOp::Sign ||
         op == UnaryOp::Affine;
}

template <UnaryOp OP>
LLMREC_HD int32_t apply_unary_i32(int32_t v, float alpha, float beta) {
  static_assert(unary_exact_on_i32(OP), "an i32 op that is not exact goes through f32");
  if constexpr (OP == UnaryOp::Neg) return -v;
  if constexpr (OP == UnaryOp::Abs) return v < 0 ? -v : v;
  if constexpr (OP == UnaryOp::Square) return v * v;
  if constexpr (OP == UnaryOp::Sign) return (v > 0) - (v < 0);
  if constexpr (OP == UnaryOp::Affine) return int32_t(alpha) * v + int32_t(beta);
}

// out = a (op) b with numpy broadcasting. Shapes are collapsed before they get here: `dims`
// holds the output extents and each operand's element strides (0 along broadcast axes).
struct BinaryParams {
  BinaryOp op = BinaryOp::Add;
  DType dtype = DType::F32;  // of a, b and out
  const void* a = nullptr;
  const void* b = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  int ndim = 0;  // 0 means a, b and out have the same shape
  int64_t out_shape[kMaxBroadcastDims] = {};
  int64_t a_strides[kMaxBroadcastDims] = {};
  int64_t b_strides[kMaxBroadcastDims] = {};
};

struct UnaryParams {
  UnaryOp op = UnaryOp::Affine;
  DType dtype = DType::F32;  // of x and out
  const void* x = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
  float alpha = 1.0f, beta = 0.0f;
};

struct CastParams {
  DType from = DType::F32, to = DType::F32;
  const void* x = nullptr;
  void* out = nullptr;
  int64_t numel = 0;
};

struct FillParams {
  DType dtype = DType::F32;
  void* out = nullptr;
  int64_t numel = 0;
  double value = 0.0;
};

// Reduces x viewed as [outer, extent, inner] over the middle axis into out [outer, inner].
// Sums accumulate in f64 on the CPU and f32 on CUDA; bf16 inputs give bf16 outputs.
struct ReduceParams {
  ReduceOp op = ReduceOp::Sum;
  DType dtype = DType::F32;
  const void* x = nullptr;
  void* out = nullptr;
  int64_t outer = 1, extent = 1, inner = 1;
};

// Philox4x32-10 samples: element i draws from counter (offset + i / 4), key `seed`. The same
// seed and offset give bit-identical uniforms on CPU and CUDA; normals use Box-Muller and agree
// to float rounding.
enum class RandomDistribution : int32_t { Uniform = 0, Normal };
struct RandomParams {
  RandomDistribution distribution = RandomDistribution::Uniform;
  DType dtype = DType::F32;
  void* out = nullptr;
  int64_t numel = 0;
  uint64_t seed = 0, offset = 0;
  float low = 0.0f, high = 1.0f;     // uniform
  float mean = 0.0f, stddev = 1.0f;  // normal
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(binary, BinaryParams);
LLMREC_KERNEL_TWINS(unary, UnaryParams);
LLMREC_KERNEL_TWINS(cast, CastParams);
LLMREC_KERNEL_TWINS(fill, FillParams);
LLMREC_KERNEL_TWINS(reduce, ReduceParams);
LLMREC_KERNEL_TWINS(random, RandomParams);

}  // namespace llmrec::kernels

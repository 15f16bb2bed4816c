// CPU twin of cuda/elementwise.cu. Loops are written so that GCC vectorises them: the op and
// the element type are template parameters, so each inner loop is branch-free.
#include "../kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/philox.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kElementwiseGrain = 1 << 15;

// Integers compute in int32; floating types compute in f32.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, int32_t>, int32_t, float>;

template <class T>
inline compute_t<T> load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, int32_t>)
    return p[i];
  else
    return to_float(p[i]);
}
template <class T>
inline void store(T* p, int64_t i, compute_t<T> v) {
  if constexpr (std::is_same_v<T, int32_t>)
    p[i] = v;
  else
    p[i] = from_float<T>(v);
}

template <BinaryOp OP, class T>
void binary_typed(const BinaryParams& p) {
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  if (p.ndim == 0) {
    parallel_for(0, p.numel, kElementwiseGrain, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) store(out, i, apply_binary<OP>(load(a, i), load(b, i)));
    });
    return;
  }
  // Broadcast: rows along the last (collapsed) axis, whose strides are 0 or 1 in practice.
  const int last = p.ndim - 1;
  const int64_t row_len = p.out_shape[last];
  const int64_t rows = p.numel / std::max<int64_t>(row_len, 1);
  const int64_t as = p.a_strides[last], bs = p.b_strides[last];
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(row_len, 1));
  parallel_for(0, rows, grain, [=, &p](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t a_off = 0, b_off = 0, rest = row;
      for (int d = last - 1; d >= 0; --d) {
        int64_t coord = rest % p.out_shape[d];
        rest /= p.out_shape[d];
        a_off += coord * p.a_strides[d];
        b_off += coord * p.b_strides[d];
      }
      const T* ar = a + a_off;
      const T* br = b + b_off;
      T* orow = out + row * row_len;
      if (as == 1 && bs == 1) {
        for (int64_t j = 0; j < row_len; ++j) store(orow, j, apply_binary<OP>(load(ar, j), load(br, j)));
      } else if (as == 1 && bs == 0) {
        const auto bv = load(br, 0);
        for (int64_t j = 0; j < row_len; ++j) store(orow, j, apply_binary<OP>(load(ar, j), bv));
      } else if (as == 0 && bs == 1) {
        const auto av = load(ar, 0);
        for (int64_t j = 0; j < row_len; ++j) store(orow, j, apply_binary<OP>(av, load(br, j)));
      } else {
        for (int64_t j = 0; j < row_len; ++j)
          store(orow, j, apply_binary<OP>(load(ar, j * as), load(br, j * bs)));
      }
    }
  });
}

template <class T>
void binary_dispatch_op(const BinaryParams& p) {
  switch (p.op) {
    case BinaryOp::Add: return binary_typed<BinaryOp::Add, T>(p);
    case BinaryOp::Sub: return binary_typed<BinaryOp::Sub, T>(p);
    case BinaryOp::Mul: return binary_typed<BinaryOp::Mul, T>(p);
    case BinaryOp::Div: return binary_typed<BinaryOp::Div, T>(p);
    case BinaryOp::Maximum: return binary_typed<BinaryOp::Maximum, T>(p);
    case BinaryOp::Minimum: return binary_typed<BinaryOp::Minimum, T>(p);
  }
}

template <UnaryOp OP, class T>
void unary_typed(const UnaryParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const float alpha = p.alpha, beta = p.beta;
  parallel_for(0, p.numel, kElementwiseGrain, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if constexpr (std::is_same_v<T, int32_t> && unary_exact_on_i32(OP))
        out[i] = apply_unary_i32<OP>(x[i], alpha, beta);
      else
        out[i] = from_float<T>(apply_unary<OP>(to_float(x[i]), alpha, beta));
    }
  });
}

template <class T>
void unary_dispatch_op(const UnaryParams& p) {
  switch (p.op) {
    case UnaryOp::Affine: return unary_typed<UnaryOp::Affine, T>(p);
    case UnaryOp::Neg: return unary_typed<UnaryOp::Neg, T>(p);
    case UnaryOp::Exp: return unary_typed<UnaryOp::Exp, T>(p);
    case UnaryOp::Log: return unary_typed<UnaryOp::Log, T>(p);
    case UnaryOp::Sqrt: return unary_typed<UnaryOp::Sqrt, T>(p);
    case UnaryOp::Rsqrt: return unary_typed<UnaryOp::Rsqrt, T>(p);
    case UnaryOp::Abs: return unary_typed<UnaryOp::Abs, T>(p);
    case UnaryOp::Square: return unary_typed<UnaryOp::Square, T>(p);
    case UnaryOp::Reciprocal: return unary_typed<UnaryOp::Reciprocal, T>(p);
    case UnaryOp::Tanh: return unary_typed<UnaryOp::Tanh, T>(p);
    case UnaryOp::Sigmoid: return unary_typed<UnaryOp::Sigmoid, T>(p);
    case UnaryOp::Sign: return unary_typed<UnaryOp::Sign, T>(p);
  }
}

// Reductions accumulate in two levels: f32 lanes over short blocks (so GCC vectorises the hot
// loop) and f64 across blocks. The blocking is fixed, so results do not depend on the thread
// count. Max and min propagate NaN.
constexpr int64_t kLanes = 16;
constexpr int64_t kBlock = 256;  // elements per f32 partial; a multiple of kLanes

template <ReduceOp OP>
struct Reducer {
  static constexpr bool kSum = OP == ReduceOp::Sum || OP == ReduceOp::Mean;
  static float init() {
    if constexpr (OP == ReduceOp::Max)
      return -INFINITY;
    else if constexpr (OP == ReduceOp::Min)
      return INFINITY;
    else
      return 0.0f;
  }
  static float combine(float acc, float v) {
    if constexpr (OP == ReduceOp::Max)
      return (v > acc || v != v) ? v : acc;
    else if constexpr (OP == ReduceOp::Min)
      return (v < acc || v != v) ? v : acc;
    else
      return acc + v;
  }
  static double combine_wide(double acc, double v) {
    if constexpr (kSum)
      return acc + v;
    else
      return double(combine(float(acc), float(v)));
  }
};

// Reduces n contiguous elements.
template <ReduceOp OP, class T>
double reduce_contiguous(const T* x, int64_t n) {
  using R = Reducer<OP>;
  double total = R::init();
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float lanes[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R::init();
    for (int64_t j = 0; j < kBlock; j += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes[l] = R::combine(lanes[l], to_float(x[i + j + l]));
    float block = R::init();
    for (int64_t l = 0; l < kLanes; ++l) block = R::combine(block, lanes[l]);
    total = R::combine_wide(total, block);
  }
  float tail = R::init();
  for (; i < n; ++i) tail = R::combine(tail, to_float(x[i]));
  return R::combine_wide(total, tail);
}

template <ReduceOp OP, class T>
void reduce_typed(const ReduceParams& p) {
  using R = Reducer<OP>;
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t outer = p.outer, extent = p.extent, inner = p.inner;
  auto store_out = [&](int64_t i, double acc) {
    const double v = OP == ReduceOp::Mean ? acc / double(extent) : acc;
    if constexpr (std::is_same_v<T, int32_t>)
      out[i] = int32_t(std::clamp(std::trunc(v), -2147483648.0, 2147483647.0));
    else
      out[i] = from_float<T>(float(v));
  };

  if (inner == 1 && outer < llmrec::cpu::num_threads() * 2 && extent >= (1 << 16)) {
    // Few long rows: fixed-size pieces reduced in parallel, then combined in order.
    constexpr int64_t kPiece = 1 << 15;
    const int64_t pieces = llmrec::cpu::fixed_block_count(extent, kPiece);
    std::vector<double> partial(size_t(outer * pieces));
    parallel_for(0, outer * pieces, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t job = lo; job < hi; ++job) {
        const int64_t row = job / pieces, piece = job % pieces;
        const int64_t begin = piece * kPiece, end = std::min(extent, begin + kPiece);
        partial[size_t(job)] = reduce_contiguous<OP>(x + row * extent + begin, end - begin);
      }
    });
    for (int64_t row = 0; row < outer; ++row) {
      double acc = R::init();
      for (int64_t piece = 0; piece < pieces; ++piece)
        acc = R::combine_wide(acc, partial[size_t(row * pieces + piece)]);
      store_out(row, acc);
    }
    return;
  }
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(extent, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t row = lo; row < hi; ++row)
                     store_out(row, reduce_contiguous<OP>(x + row * extent, extent));
                 });
    return;
  }
  // Columns: the reduced axis is the outer loop, so the inner loop over a tile of columns is
  // contiguous and vectorises; f32 partials over kBlock rows, f64 totals.
  constexpr int64_t kTile = 256;
  const int64_t tiles = (inner + kTile - 1) / kTile;
  parallel_for(0, outer * tiles, 1, [&](int64_t lo, int64_t hi) {
    double total[kTile];
    float partial[kTile];
    for (int64_t job = lo; job < hi; ++job) {
      const int64_t o = job / tiles, j0 = (job % tiles) * kTile;
      const int64_t width = std::min(kTile, inner - j0);
      for (int64_t j = 0; j < width; ++j) total[j] = R::init();
      for (int64_t k0 = 0; k0 < extent; k0 += kBlock) {
        const int64_t k1 = std::min(extent, k0 + kBlock);
        for (int64_t j = 0; j < width; ++j) partial[j] = R::init();
        for (int64_t k = k0; k < k1; ++k) {
          const T* row = x + (o * extent + k) * inner + j0;
          for (int64_t j = 0; j < width; ++j) partial[j] = R::combine(partial[j], to_float(row[j]));
        }
        for (int64_t j = 0; j < width; ++j) total[j] = R::combine_wide(total[j], partial[j]);
      }
      for (int64_t j = 0; j < width; ++j) store_out(o * inner + j0 + j, total[j]);
    }
  });
}

template <class T>
void reduce_dispatch_op(const ReduceParams& p) {
  switch (p.op) {
    case ReduceOp::Sum: return reduce_typed<ReduceOp::Sum, T>(p);
    case ReduceOp::Mean: return reduce_typed<ReduceOp::Mean, T>(p);
    case ReduceOp::Max: return reduce_typed<ReduceOp::Max, T>(p);
    case ReduceOp::Min: return reduce_typed<ReduceOp::Min, T>(p);
  }
}

}  // namespace

void binary(const BinaryParams& p) {
  visit_dtype(p.dtype, [&](auto* tag) { binary_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p); });
}

void unary(const UnaryParams& p) {
  visit_dtype(p.dtype, [&](auto* tag) { unary_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p); });
}

void cast(const CastParams& p) {
  visit_dtype(p.from, [&](auto* from_tag) {
    using From = std::remove_pointer_t<decltype(from_tag)>;
    visit_dtype(p.to, [&](auto* to_tag) {
      using To = std::remove_pointer_t<decltype(to_tag)>;
      const From* x = static_cast<const From*>(p.x);
      To* out = static_cast<To*>(p.out);
      parallel_for(0, p.numel, kElementwiseGrain, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          if constexpr (std::is_same_v<From, To>)
            out[i] = x[i];
          else if constexpr (std::is_same_v<From, int32_t> && std::is_same_v<To, float>)
            out[i] = float(x[i]);
          else
            out[i] = from_float<To>(to_float(x[i]));
        }
      });
    });
  });
}

void fill(const FillParams& p) {
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T value;
    if constexpr (std::is_same_v<T, int32_t>)
      value = int32_t(p.value);
    else
      value = from_float<T>(float(p.value));
    T* out = static_cast<T*>(p.out);
    parallel_for(0, p.numel, kElementwiseGrain,
                 [=](int64_t lo, int64_t hi) { std::fill(out + lo, out + hi, value); });
  });
}

void reduce(const ReduceParams& p) {
  visit_dtype(p.dtype, [&](auto* tag) { reduce_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p); });
}

void random(const RandomParams& p) {
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* out = static_cast<T*>(p.out);
    const int64_t counters = (p.numel + 3) / 4;
    parallel_for(0, counters, 4096, [=](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        const philox::Bits4 bits = philox::generate(p.seed, p.offset + uint64_t(c));
        float v[4];
        if (p.distribution == RandomDistribution::Uniform) {
          for (int i = 0; i < 4; ++i)
            v[i] = std::fma(p.high - p.low, philox::uniform01(philox::lane(bits, i)), p.low);
        } else {
          for (int pair = 0; pair < 2; ++pair) {
            const float u1 = philox::uniform01_open_low(philox::lane(bits, 2 * pair));
            const float u2 = philox::uniform01(philox::lane(bits, 2 * pair + 1));
            const float radius = std::sqrt(-2.0f * std::log(u1));
            const float angle = 6.2831853071795864f * u2;
            v[2 * pair] = std::fma(radius * std::cos(angle), p.stddev, p.mean);
            v[2 * pair + 1] = std::fma(radius * std::sin(angle), p.stddev, p.mean);
          }
        }
        for (int i = 0; i < 4; ++i) {
          const int64_t index = c * 4 + i;
          if (index < p.numel) out[index] = from_float<T>(v[i]);
        }
      }
    });
  });
}

}  // namespace llmrec::kernels::cpu

// CUDA twin of native/cpu/elementwise.cc.
//
// Elementwise kernels are memory-bound: the same-shape paths use 16-byte loads when every
// pointer allows it and a grid-stride loop sized to the machine. Reductions view the input as
// [outer, extent, inner]: rows (inner == 1) reduce with a block per row, columns with 32-wide
// tiles; when there are too few rows or columns to fill the GPU the extent is split and a second
// pass combines the f32 partials.
#include <algorithm>
#include <cmath>

#include "../native/kernels/elementwise.h"
#include "../native/kernels/philox.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------------------------------------
// Binary

template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, int32_t>, int32_t, float>;

template <class T>
__device__ __forceinline__ compute_t<T> load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, int32_t>)
    return p[i];
  else
    return to_float(p[i]);
}
template <class T>
__device__ __forceinline__ void store(T* p, int64_t i, compute_t<T> v) {
  if constexpr (std::is_same_v<T, int32_t>)
    p[i] = v;
  else
    p[i] = from_float<T>(v);
}

// Four elements per thread per step; the caller guarantees 4-element alignment of every pointer
// (16 bytes for f32 and i32, 8 bytes for bf16).
template <BinaryOp OP, class T>
__global__ void binary_same_shape_vec4(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                       int64_t groups) {
  using Vec = std::conditional_t<sizeof(T) == 4, int4, int2>;
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups;
       g += int64_t(gridDim.x) * blockDim.x) {
    Vec va = reinterpret_cast<const Vec*>(a)[g];
    Vec vb = reinterpret_cast<const Vec*>(b)[g];
    Vec vo;
    const T* ea = reinterpret_cast<const T*>(&va);
    const T* eb = reinterpret_cast<const T*>(&vb);
    T* eo = reinterpret_cast<T*>(&vo);
#pragma unroll
    for (int k = 0; k < 4; ++k) store(eo, k, apply_binary<OP>(load(ea, k), load(eb, k)));
    reinterpret_cast<Vec*>(out)[g] = vo;
  }
}

template <BinaryOp OP, class T>
__global__ void binary_same_shape(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                  int64_t begin, int64_t n) {
  for (int64_t i = begin + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(out, i, apply_binary<OP>(load(a, i), load(b, i)));
}

struct BroadcastLayout {
  int ndim;
  int64_t shape[kMaxBroadcastDims];
  int64_t a_strides[kMaxBroadcastDims];
  int64_t b_strides[kMaxBroadcastDims];
};

template <BinaryOp OP, class T>
__global__ void binary_broadcast(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                 int64_t n, BroadcastLayout layout) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, a_off = 0, b_off = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t coord = rest % layout.shape[d];
      rest /= layout.shape[d];
      a_off += coord * layout.a_strides[d];
      b_off += coord * layout.b_strides[d];
    }
    store(out, i, apply_binary<OP>(load(a, a_off), load(b, b_off)));
  }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <BinaryOp OP, class T>
void launch_binary(const BinaryParams& p, const CudaStream& s) {
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  if (p.ndim == 0) {
    int64_t vec_groups = 0;
    if (aligned(a, 4 * sizeof(T)) && aligned(b, 4 * sizeof(T)) && aligned(out, 4 * sizeof(T))) {
      vec_groups = p.numel / 4;
      if (vec_groups > 0)
        binary_same_shape_vec4<OP, T>
            <<<grid_for(vec_groups, kThreads, s), kThreads, 0, s.stream>>>(a, b, out, vec_groups);
    }
    const int64_t tail_begin = vec_groups * 4;
    if (tail_begin < p.numel)
      binary_same_shape<OP, T><<<grid_for(p.numel - tail_begin, kThreads, s), kThreads, 0, s.stream>>>(
          a, b, out, tail_begin, p.numel);
    return;
  }
  BroadcastLayout layout{};
  layout.ndim = p.ndim;
  for (int d = 0; d < p.ndim; ++d) {
    layout.shape[d] = p.out_shape[d];
    layout.a_strides[d] = p.a_strides[d];
    layout.b_strides[d] = p.b_strides[d];
  }
  binary_broadcast<OP, T>
      <<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(a, b, out, p.numel, layout);
}

template <class T>
void binary_dispatch_op(const BinaryParams& p, const CudaStream& s) {
  switch (p.op) {
    case BinaryOp::Add: return launch_binary<BinaryOp::Add, T>(p, s);
    case BinaryOp::Sub: return launch_binary<BinaryOp::Sub, T>(p, s);
    case BinaryOp::Mul: return launch_binary<BinaryOp::Mul, T>(p, s);
    case BinaryOp::Div: return launch_binary<BinaryOp::Div, T>(p, s);
    case BinaryOp::Maximum: return launch_binary<BinaryOp::Maximum, T>(p, s);
    case BinaryOp::Minimum: return launch_binary<BinaryOp::Minimum, T>(p, s);
  }
}

// ---------------------------------------------------------------------------------------------
// Unary, cast, fill

template <UnaryOp OP, class T>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ out, int64_t n, float alpha,
                             float beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<T, int32_t> && unary_exact_on_i32(OP))
      out[i] = apply_unary_i32<OP>(x[i], alpha, beta);
    else
      out[i] = from_float<T>(apply_unary<OP>(to_float(x[i]), alpha, beta));
  }
}

template <class T>
void unary_dispatch_op(const UnaryParams& p, const CudaStream& s) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const unsigned grid = grid_for(p.numel, kThreads, s);
#define LLMREC_UNARY_CASE(NAME) \
  case UnaryOp::NAME:           \
    return unary_kernel<UnaryOp::NAME, T><<<grid, kThreads, 0, s.stream>>>(x, out, p.numel, p.alpha, p.beta);
  switch (p.op) {
    LLMREC_UNARY_CASE(Affine)
    LLMREC_UNARY_CASE(Neg)
    LLMREC_UNARY_CASE(Exp)
    LLMREC_UNARY_CASE(Log)
    LLMREC_UNARY_CASE(Sqrt)
    LLMREC_UNARY_CASE(Rsqrt)
    LLMREC_UNARY_CASE(Abs)
    LLMREC_UNARY_CASE(Square)
    LLMREC_UNARY_CASE(Reciprocal)
    LLMREC_UNARY_CASE(Tanh)
    LLMREC_UNARY_CASE(Sigmoid)
    LLMREC_UNARY_CASE(Sign)
  }
#undef LLMREC_UNARY_CASE
}

template <class From, class To>
__global__ void cast_kernel(const From* __restrict__ x, To* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (std::is_same_v<From, To>)
      out[i] = x[i];
    else
      out[i] = from_float<To>(to_float(x[i]));
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ out, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}

// ---------------------------------------------------------------------------------------------
// Reductions

template <ReduceOp OP>
struct Reducer {
  __device__ __forceinline__ static float identity() {
    if constexpr (OP == ReduceOp::Max)
      return -INFINITY;
    else if constexpr (OP == ReduceOp::Min)
      return INFINITY;
    else
      return 0.0f;
  }
  __device__ __forceinline__ float operator()(float acc, float v) const {
    if constexpr (OP == ReduceOp::Max)
      return (v > acc || isnan(v)) ? v : acc;
    else if constexpr (OP == ReduceOp::Min)
      return (v < acc || isnan(v)) ? v : acc;
    else
      return acc + v;
  }
};

// The value written at the end of the last pass; `scale` is 1/extent for a mean, else 1.
template <class T>
__device__ __forceinline__ void store_result(T* out, int64_t i, float v, float scale) {
  out[i] = from_float<T>(v * scale);
}
__device__ __forceinline__ void store_result(float* out, int64_t i, float v, float scale) {
  out[i] = v * scale;
}

// Rows: block `blockIdx.x` reduces row r's chunk `blockIdx.y` (of gridDim.y chunks).
template <ReduceOp OP, class TIn, class TOut>
__global__ void reduce_rows(const TIn* __restrict__ x, TOut* __restrict__ out, int64_t extent, int64_t chunk,
                            float scale) {
  __shared__ float scratch[32];
  const Reducer<OP> combine;
  const int64_t row = blockIdx.x;
  const int64_t begin = blockIdx.y * chunk;
  const int64_t end = min(extent, begin + chunk);
  float acc = Reducer<OP>::identity();
  const TIn* xr = x + row * extent;
  for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) acc = combine(acc, to_float(xr[k]));
  acc = block_reduce(acc, combine, Reducer<OP>::identity(), scratch);
  if (threadIdx.x == 0) store_result(out, row * gridDim.y + blockIdx.y, acc, scale);
}

// Columns: a (32 x 8) block reduces 32 adjacent columns of outer slices o = blockIdx.y,
// blockIdx.y + gridDim.y, ... over its chunk of the extent; the 8 rows of threads combine
// through shared memory. Output layout [outer, chunks, inner].
template <ReduceOp OP, class TIn, class TOut>
__global__ void reduce_cols(const TIn* __restrict__ x, TOut* __restrict__ out, int64_t outer, int64_t extent,
                            int64_t inner, int64_t chunk, float scale) {
  __shared__ float tile[8][33];
  const Reducer<OP> combine;
  const int64_t col = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.z * chunk;
  const int64_t end = min(extent, begin + chunk);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    float acc = Reducer<OP>::identity();
    if (col < inner)
      for (int64_t k = begin + threadIdx.y; k < end; k += 8)
        acc = combine(acc, to_float(x[(o * extent + k) * inner + col]));
    tile[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < inner) {
      for (int r = 1; r < 8; ++r) acc = combine(acc, tile[r][threadIdx.x]);
      store_result(out, (o * gridDim.z + blockIdx.z) * inner + col, acc, scale);
    }
    __syncthreads();  // the tile is rewritten by the next slice
  }
}

template <ReduceOp OP, class T>
void launch_reduce(const ReduceParams& p, const CudaStream& s) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const float mean_scale = OP == ReduceOp::Mean ? float(1.0 / double(std::max<int64_t>(p.extent, 1))) : 1.0f;
  const int64_t target_blocks = int64_t(std::max(s.multiprocessors, 1)) * 4;
  if (p.inner == 1) {
    int64_t chunks = 1;
    if (p.outer < target_blocks && p.extent > 8192)
      chunks = std::min<int64_t>((target_blocks + p.outer - 1) / p.outer, (p.extent + 8191) / 8192);
    const int64_t chunk = (p.extent + chunks - 1) / chunks;
    chunks = (p.extent + chunk - 1) / chunk;
    const int threads = p.extent >= 1024 ? 256 : 128;
    if (chunks == 1) {
      reduce_rows<OP, T, T>
          <<<dim3(unsigned(p.outer), 1), threads, 0, s.stream>>>(x, out, p.extent, chunk, mean_scale);
      return;
    }
    const size_t partial_bytes = size_t(p.outer * chunks) * sizeof(float);
    float* partial = static_cast<float*>(s.scratch->allocate(partial_bytes));
    reduce_rows<OP, T, float><<<dim3(unsigned(p.outer), unsigned(chunks)), threads, 0, s.stream>>>(
        x, partial, p.extent, chunk, 1.0f);
    reduce_rows<OP, float, T>
        <<<dim3(unsigned(p.outer), 1), 128, 0, s.stream>>>(partial, out, chunks, chunks, mean_scale);
    s.scratch->release(partial, partial_bytes);  // stream-ordered: safe once queued
    return;
  }
  const int64_t col_tiles = (p.inner + 31) / 32;
  int64_t chunks = 1;
  if (col_tiles * p.outer < target_blocks && p.extent > 256)
    chunks = std::min<int64_t>((target_blocks + col_tiles * p.outer - 1) / (col_tiles * p.outer),
                               (p.extent + 255) / 256);
  chunks = std::min<int64_t>(chunks, 65535);
  const int64_t chunk = (p.extent + chunks - 1) / chunks;
  chunks = (p.extent + chunk - 1) / chunk;
  const dim3 block(32, 8);
  const unsigned outer_blocks = unsigned(std::min<int64_t>(p.outer, 65535));
  if (chunks == 1) {
    reduce_cols<OP, T, T><<<dim3(unsigned(col_tiles), outer_blocks, 1), block, 0, s.stream>>>(
        x, out, p.outer, p.extent, p.inner, chunk, mean_scale);
    return;
  }
  const size_t partial_bytes = size_t(p.outer * chunks * p.inner) * sizeof(float);
  float* partial = static_cast<float*>(s.scratch->allocate(partial_bytes));
  reduce_cols<OP, T, float>
      <<<dim3(unsigned(col_tiles), outer_blocks, unsigned(chunks)), block, 0, s.stream>>>(
          x, partial, p.outer, p.extent, p.inner, chunk, 1.0f);
  reduce_cols<OP, float, T><<<dim3(unsigned(col_tiles), outer_blocks, 1), block, 0, s.stream>>>(
      partial, out, p.outer, chunks, p.inner, chunks, mean_scale);
  s.scratch->release(partial, partial_bytes);
}

template <class T>
void reduce_dispatch_op(const ReduceParams& p, const CudaStream& s) {
  switch (p.op) {
    case ReduceOp::Sum: return launch_reduce<ReduceOp::Sum, T>(p, s);
    case ReduceOp::Mean: return launch_reduce<ReduceOp::Mean, T>(p, s);
    case ReduceOp::Max: return launch_reduce<ReduceOp::Max, T>(p, s);
    case ReduceOp::Min: return launch_reduce<ReduceOp::Min, T>(p, s);
  }
}

// ---------------------------------------------------------------------------------------------
// Random

template <class T>
__global__ void random_kernel(T* __restrict__ out, int64_t n, RandomParams p) {
  const int64_t counters = (n + 3) / 4;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < counters;
       c += int64_t(gridDim.x) * blockDim.x) {
    const philox::Bits4 bits = philox::generate(p.seed, p.offset + uint64_t(c));
    float v[4];
    if (p.distribution == RandomDistribution::Uniform) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        v[i] = fmaf(p.high - p.low, philox::uniform01(philox::lane(bits, i)), p.low);
    } else {
#pragma unroll
      for (int pair = 0; pair < 2; ++pair) {
        const float u1 = philox::uniform01_open_low(philox::lane(bits, 2 * pair));
        const float u2 = philox::uniform01(philox::lane(bits, 2 * pair + 1));
        const float radius = sqrtf(-2.0f * logf(u1));
        const float angle = 6.2831853071795864f * u2;
        v[2 * pair] = fmaf(radius * cosf(angle), p.stddev, p.mean);
        v[2 * pair + 1] = fmaf(radius * sinf(angle), p.stddev, p.mean);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t index = c * 4 + i;
      if (index < n) out[index] = from_float<T>(v[i]);
    }
  }
}

}  // namespace

void binary(const BinaryParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) { binary_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void unary(const UnaryParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) { unary_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void cast(const CastParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.from, [&](auto* from_tag) {
    visit_dtype(p.to, [&](auto* to_tag) {
      using From = std::remove_pointer_t<decltype(from_tag)>;
      using To = std::remove_pointer_t<decltype(to_tag)>;
      cast_kernel<From, To><<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(
          static_cast<const From*>(p.x), static_cast<To*>(p.out), p.numel);
    });
  });
}

void fill(const FillParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T value;
    if constexpr (std::is_same_v<T, int32_t>)
      value = int32_t(p.value);
    else if constexpr (std::is_same_v<T, float>)
      value = float(p.value);
    else
      value = __float2bfloat16_rn(float(p.value));
    fill_kernel<T>
        <<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(static_cast<T*>(p.out), p.numel, value);
  });
}

void reduce(const ReduceParams& p, const CudaStream& s) {
  if (p.outer * p.inner == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) { reduce_dispatch_op<std::remove_pointer_t<decltype(tag)>>(p, s); });
}

void random(const RandomParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    random_kernel<T><<<grid_for((p.numel + 3) / 4, kThreads, s), kThreads, 0, s.stream>>>(
        static_cast<T*>(p.out), p.numel, p);
  });
}

}  // namespace llmrec::kernels::cuda

// Helpers shared by the CUDA twins: element conversion, block reductions, launch sizing and
// the device side of kernel error reporting.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../native/abi/dtype.h"
#include "../native/abi/host_device.h"
#include "../native/abi/kernel_api.h"

namespace llmrec::cuda_common {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(int32_t v) { return float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float v) {
  return __float2bfloat16_rn(v);
}
// Truncates toward zero, saturates, NaN -> 0: the CPU twin follows the same rule.
template <>
__device__ __forceinline__ int32_t from_float<int32_t>(float v) {
  return __float2int_rz(v);
}

// Dispatch on the element type with this twin's bf16 (native/abi/dtype.h).
inline constexpr DTypeVisitor<bf16> visit_dtype{};
inline constexpr FloatingVisitor<bf16> visit_floating{};

// Combiners for warp_reduce and block_reduce.
struct Sum {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Records the first bad value a kernel meets; the host raises it at the next synchronisation.
__device__ __forceinline__ void report_error(KernelErrorRecord* record, int site, long long value,
                                             long long limit) {
  if (atomicCAS(&record->site, 0, site) == 0) {
    record->value = value;
    record->limit = limit;
  }
}

template <class Combine>
__device__ __forceinline__ float warp_reduce(float v, Combine combine) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces one value per thread over the block; every thread receives the result. `scratch`
// needs 32 floats. blockDim.x must be a multiple of 32.
template <class Combine>
__device__ __forceinline__ float block_reduce(float v, Combine combine, float identity, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_reduce(v, combine);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  return warp_reduce(v, combine);
}

inline unsigned grid_for(int64_t work_items, int threads, const CudaStream& s, int blocks_per_sm = 8) {
  int64_t blocks = (work_items + threads - 1) / threads;
  const int64_t cap = int64_t(s.multiprocessors > 0 ? s.multiprocessors : 132) * blocks_per_sm;
  if (blocks > cap) blocks = cap;
  return unsigned(blocks < 1 ? 1 : blocks);
}

}  // namespace llmrec::cuda_common

// CUDA twin of native/cpu/layout.cc: a grid-stride loop over output elements; each thread
// decomposes its flat index over the shape. Layout changes are rare next to the math around
// them, so one general kernel beats a family of specialised transposes here.
#include <cstdint>

#include "../native/kernels/layout.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

struct Layout {
  int ndim;
  int64_t shape[kMaxLayoutDims];
  int64_t src_strides[kMaxLayoutDims];
  int64_t dst_strides[kMaxLayoutDims];
};

template <class Word>
__global__ void strided_copy_kernel(const Word* __restrict__ src, Word* __restrict__ dst, int64_t numel,
                                    Layout layout) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, src_offset = 0, dst_offset = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t index = rest % layout.shape[d];
      rest /= layout.shape[d];
      src_offset += index * layout.src_strides[d];
      dst_offset += index * layout.dst_strides[d];
    }
    dst[dst_offset] = src[src_offset];
  }
}

}  // namespace

void strided_copy(const StridedCopyParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  Layout layout{};
  layout.ndim = p.ndim;
  for (int d = 0; d < p.ndim; ++d) {
    layout.shape[d] = p.shape[d];
    layout.src_strides[d] = p.src_strides[d];
    layout.dst_strides[d] = p.dst_strides[d];
  }
  constexpr int kThreads = 256;
  if (dtype_size(p.dtype) == 2)
    strided_copy_kernel<uint16_t><<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(
        static_cast<const uint16_t*>(p.src), static_cast<uint16_t*>(p.dst), p.numel, layout);
  else
    strided_copy_kernel<uint32_t><<<grid_for(p.numel, kThreads, s), kThreads, 0, s.stream>>>(
        static_cast<const uint32_t*>(p.src), static_cast<uint32_t*>(p.dst), p.numel, layout);
}

}  // namespace llmrec::kernels::cuda

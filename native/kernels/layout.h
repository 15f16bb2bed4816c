// Layout changes: one strided copy serves permute, narrow (slicing), concatenation and the
// scatter that narrow's backward needs. Elements are moved as raw 2- or 4-byte words, so the
// copy is exact for every dtype.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

constexpr int kMaxLayoutDims = 8;

// dst[sum_d i_d * dst_strides[d]] = src[sum_d i_d * src_strides[d]] for every index i < shape.
// Pointers already include any offset; strides are in elements.
struct StridedCopyParams {
  DType dtype = DType::F32;
  const void* src = nullptr;
  void* dst = nullptr;
  int ndim = 0;
  int64_t shape[kMaxLayoutDims] = {};
  int64_t src_strides[kMaxLayoutDims] = {};
  int64_t dst_strides[kMaxLayoutDims] = {};
  int64_t numel = 0;
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(strided_copy, StridedCopyParams);

}  // namespace llmrec::kernels

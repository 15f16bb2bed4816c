// Softmax and log-softmax over the last axis, max-subtracted so that logits of any magnitude
// stay finite. The backward works from the saved output alone. CPU twin native/cpu/softmax.cc,
// CUDA twin cuda/softmax.cu.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

struct SoftmaxParams {
  DType dtype = DType::F32;  // of x and out
  bool log = false;
  const void* x = nullptr;
  void* out = nullptr;
  int64_t rows = 0, cols = 0;
};

// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
struct SoftmaxBackwardParams {
  DType dtype = DType::F32;
  bool log = false;
  const void* grad_out = nullptr;
  const void* out = nullptr;  // the forward's output y
  void* grad_input = nullptr;
  int64_t rows = 0, cols = 0;
};

namespace cpu {
void softmax_forward(const SoftmaxParams& p);
void softmax_backward(const SoftmaxBackwardParams& p);
}  // namespace cpu

namespace cuda {
void softmax_forward(const SoftmaxParams& p, const CudaStream& s);
void softmax_backward(const SoftmaxBackwardParams& p, const CudaStream& s);
}  // namespace cuda

}  // namespace llmrec::kernels

// Softmax and log-softmax over the last axis, max-subtracted so that logits of any magnitude
// stay finite. The backward works from the saved output alone. CPU twin native/cpu/softmax.cc,
// CUDA twin cuda/softmax.cu.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

// What the forward and the backward share: the dtype of every tensor, log-softmax or softmax,
// and the [rows, cols] view of the input.
struct SoftmaxShape {
  DType dtype = DType::F32;
  bool log = false;
  int64_t rows = 0, cols = 0;
};

struct SoftmaxParams : SoftmaxShape {
  const void* x = nullptr;
  void* out = nullptr;
};

// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
struct SoftmaxBackwardParams : SoftmaxShape {
  const void* grad_out = nullptr;
  const void* out = nullptr;  // the forward's output y
  void* grad_input = nullptr;
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(softmax_forward, SoftmaxParams);
LLMREC_KERNEL_TWINS(softmax_backward, SoftmaxBackwardParams);

}  // namespace llmrec::kernels

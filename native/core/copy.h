// Moving a tensor between devices: a runtime concern (streams, staging), not a kernel.
#pragma once

#include "context.h"
#include "tensor.h"

namespace llmrec {

// A copy of `x` on `device` (the same device gives an independent copy).
Tensor copy_to(Context& ctx, const Tensor& x, const Device& device);

}  // namespace llmrec

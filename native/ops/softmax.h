// Softmax / log-softmax over the last axis; see native/kernels/softmax.h.
#pragma once

#include "../core/context.h"

namespace llmrec::ops {

Tensor softmax(Context& ctx, const Tensor& x, bool log);
Tensor softmax_backward(Context& ctx, const Tensor& grad_out, const Tensor& out, bool log);

}  // namespace llmrec::ops

// Permute, narrow (a slice along one axis), concatenation, and narrow's backward, all as new
// contiguous tensors made by one strided copy each.
#pragma once

#include <vector>

#include "../core/context.h"

namespace llmrec::ops {

Tensor permute(Context& ctx, const Tensor& x, const std::vector<int64_t>& dims);
Tensor narrow(Context& ctx, const Tensor& x, int64_t axis, int64_t start, int64_t length);
Tensor concat(Context& ctx, const std::vector<const Tensor*>& tensors, int64_t axis);
// A zero tensor of `shape` with `grad` written at [start, start + grad extent) along `axis`.
Tensor narrow_backward(Context& ctx, const Tensor& grad, const Shape& shape, int64_t axis, int64_t start);

}  // namespace llmrec::ops

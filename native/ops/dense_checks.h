// Argument checks shared by the dense families (norm, activation, softmax, loss): each names the
// op, the argument and the shapes, so that the JS Error tells the caller what to fix.
#pragma once

#include "../abi/error.h"
#include "../core/tensor.h"

namespace llmrec::ops::dense {

inline void expect_floating(const char* op, const char* arg, const Tensor& t) {
  if (!is_floating(t.dtype))
    fail(op, ": '", arg, "' must be f32 or bf16 but is ", dtype_name(t.dtype), shape_str(t.shape),
         "; cast it first with .cast('f32')");
}

inline void expect_dtype(const char* op, const char* arg, const Tensor& t, DType dtype, const char* like) {
  if (t.dtype != dtype)
    fail(op, ": '", arg, "' is ", dtype_name(t.dtype), shape_str(t.shape), " but '", like, "' is ",
         dtype_name(dtype), "; they must have the same dtype");
}

inline void expect_same_shape(const char* op, const char* arg, const Tensor& t, const Tensor& like,
                              const char* like_name) {
  if (t.shape != like.shape)
    fail(op, ": '", arg, "' has shape ", shape_str(t.shape), " but '", like_name, "' has shape ",
         shape_str(like.shape), "; they must match");
}

// An incoming gradient: the shape of `shape_like`, the dtype of `dtype_like` (with their names).
inline void expect_grad_like(const char* op, const char* arg, const Tensor& grad, const Tensor& shape_like,
                             const char* shape_name, const Tensor& dtype_like, const char* dtype_name_) {
  expect_same_shape(op, arg, grad, shape_like, shape_name);
  expect_dtype(op, arg, grad, dtype_like.dtype, dtype_name_);
}

// At least one axis; returns the extent of the last one.
inline int64_t last_dim(const char* op, const char* arg, const Tensor& t) {
  if (t.dim() < 1) fail(op, ": '", arg, "' must have at least one axis but is a scalar");
  return t.shape.back();
}

}  // namespace llmrec::ops::dense

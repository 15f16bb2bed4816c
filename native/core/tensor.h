// A tensor is a shape, a dtype and a contiguous row-major window onto shared storage.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../abi/dtype.h"
#include "../abi/error.h"
#include "device.h"
#include "storage.h"

namespace llmrec {

using Shape = std::vector<int64_t>;

// Largest element count a tensor may have: 2^53, so every index survives a trip through a JS
// number, and byte counts cannot overflow int64.
constexpr int64_t kMaxElements = int64_t(1) << 53;

// Product of the dimensions; throws if a dimension is negative or the product is too large.
int64_t checked_numel(const Shape& shape, const char* op);

struct Tensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;
  int64_t offset = 0;  // in elements, for zero-cost views into a larger storage
  int64_t numel = 0;

  bool defined() const { return storage != nullptr; }
  Device device() const { return storage->device(); }
  int64_t dim() const { return int64_t(shape.size()); }
  int64_t size(int64_t axis) const { return shape[size_t(axis < 0 ? axis + dim() : axis)]; }
  size_t nbytes() const { return size_t(numel) * dtype_size(dtype); }
  void* data() const { return static_cast<char*>(storage->data()) + size_t(offset) * dtype_size(dtype); }
  template <class T>
  T* data_as() const {
    return static_cast<T*>(data());
  }
};

// A view of the same elements with another shape; the element count must match.
Tensor reshape_view(const Tensor& tensor, const Shape& shape, const char* op);

}  // namespace llmrec

// Reference-counted device memory. Tensors, views and in-flight work hold shared_ptrs to a
// Storage; the block goes back to its allocator when the last of them lets go.
#pragma once

#include <cstddef>
#include <memory>

#include "allocator.h"

namespace llmrec {

class Storage {
 public:
  Storage(std::shared_ptr<Allocator> allocator, size_t bytes)
      : allocator_(std::move(allocator)), bytes_(bytes), data_(allocator_->allocate(bytes)) {}
  ~Storage() { allocator_->release(data_, bytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return allocator_->device(); }

 private:
  std::shared_ptr<Allocator> allocator_;
  size_t bytes_;
  void* data_;
};

}  // namespace llmrec

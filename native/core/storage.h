// Reference-counted device memory. Tensors, views and in-flight work hold shared_ptrs to a
// Storage; the block goes back to its allocator when the last of them lets go.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>

#include "allocator.h"

namespace llmrec {

// Why a storage's contents cannot be trusted: the error of the work that was to write them, or
// of a storage that work read. Set once, on the thread that runs the work; queued work holds it
// rather than the storage, so it outlives a storage released while work is in flight.
class Poison {
 public:
  void mark(std::exception_ptr error) {
    if (set_.load(std::memory_order_relaxed)) return;
    error_ = std::move(error);
    set_.store(true, std::memory_order_release);
  }
  std::exception_ptr error() const { return set_.load(std::memory_order_acquire) ? error_ : nullptr; }

 private:
  std::atomic<bool> set_{false};
  std::exception_ptr error_;
};

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
  const std::shared_ptr<Poison>& poison() const { return poison_; }

  // Whether work (or a host write) has been queued to write the contents yet: the first work
  // that touches a storage produces it. Read and written on the JS thread only, by submit().
  bool produced = false;

 private:
  std::shared_ptr<Allocator> allocator_;
  size_t bytes_;
  void* data_;
  std::shared_ptr<Poison> poison_ = std::make_shared<Poison>();
};

}  // namespace llmrec

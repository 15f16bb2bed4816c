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
// of a storage that work read (poison.h). Set once: the first mark wins, whichever thread makes
// it (the CPU executor, the JS thread, or the thread that settles a CUDA error window). Queued
// work holds it rather than the storage, so it outlives a storage released while work is in
// flight.
class Poison {
 public:
  void mark(std::exception_ptr error) {
    int unset = kUnset;
    if (!state_.compare_exchange_strong(unset, kMarking, std::memory_order_acquire)) return;
    error_ = std::move(error);
    state_.store(kSet, std::memory_order_release);
  }
  std::exception_ptr error() const {
    return state_.load(std::memory_order_acquire) == kSet ? error_ : nullptr;
  }

 private:
  static constexpr int kUnset = 0, kMarking = 1, kSet = 2;
  std::atomic<int> state_{kUnset};
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

// Allocators own device memory; storages borrow blocks from them and give them back when the
// last tensor that shares the storage goes away.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "../abi/kernel_api.h"
#include "device.h"

namespace llmrec {

struct MemoryStats {
  int64_t bytes_in_use = 0;        // held by live storages
  int64_t peak_bytes_in_use = 0;   // high-water mark of bytes_in_use
  int64_t bytes_reserved = 0;      // in use + kept in the cache for reuse
  int64_t live_blocks = 0;         // storages currently alive
  int64_t total_allocations = 0;   // requests served since start
  int64_t cache_hits = 0;          // requests served from the cache
  int64_t device_allocations = 0;  // calls into the system allocator (malloc / cudaMalloc)
  int64_t device_frees = 0;        // blocks returned to the system
};

class Allocator : public ScratchAllocator {
 public:
  // allocate(bytes) returns a block of at least `bytes` bytes, 256-byte aligned; throws
  // llmrec::Error when the device is out of memory. Zero bytes yields nullptr.
  virtual MemoryStats stats() const = 0;
  // Returns cached blocks to the system; a no-op for allocators that keep no cache.
  virtual void empty_cache() {}
  virtual Device device() const = 0;
};

// When on, every new allocation is filled with 0xFF bytes (NaN in f32 and bf16, -1 in i32), so
// a kernel that leaves an output element unwritten fails its test. Process-wide; off by default.
void set_allocation_poison(bool enabled);
bool allocation_poison();

// Counters shared by every allocator; atomics because storages are released from the CPU
// stream's executor thread as well as the JS thread.
class AllocationCounters {
 public:
  void on_allocate(int64_t bytes, bool from_cache);
  void on_release(int64_t bytes);
  void on_system_allocate(int64_t bytes);
  void on_system_free(int64_t bytes);
  MemoryStats snapshot() const;

 private:
  std::atomic<int64_t> bytes_in_use_{0}, peak_{0}, reserved_{0}, live_{0}, total_{0}, hits_{0},
      system_allocs_{0}, system_frees_{0};
};

// Size bucket of a cached block: four per power of two, at least 512 bytes.
size_t cache_bucket_bytes(size_t bytes);

class CpuStream;

// Aligned host memory for one context, cached in size buckets and reused in stream order, like
// the CUDA allocator: every access to CPU tensor memory happens on the context's CPU stream (or
// after synchronising it), so a block released while queued work still reads it can be handed
// to the next allocation at once: that allocation's work is queued behind the readers. Memory
// goes back to the system only in stream order too (a queued free, or after synchronising).
class CpuAllocator final : public Allocator {
 public:
  explicit CpuAllocator(CpuStream* stream) : stream_(stream) {}
  ~CpuAllocator() override;
  void* allocate(size_t bytes) override;
  void release(void* ptr, size_t bytes) override;
  MemoryStats stats() const override { return counters_.snapshot(); }
  // Frees every cached block; call with the stream synchronised (Context::empty_cache does).
  void empty_cache() override;
  Device device() const override { return Device::cpu(); }
  // The stream is gone (the context is shutting down): nothing is queued any more, so later
  // releases free directly.
  void detach_stream();

 private:
  void trim_locked();

  // Cached bytes above this go back to the system.
  static constexpr int64_t kMaxCachedBytes = int64_t(1) << 31;
  AllocationCounters counters_;
  std::mutex mutex_;
  CpuStream* stream_;  // guarded by mutex_
  std::multimap<size_t, void*> free_blocks_;
  int64_t cached_bytes_ = 0;
};

}  // namespace llmrec

#include "allocator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../abi/error.h"
#include "cpu_stream.h"

namespace llmrec {

static std::atomic<bool> poison_allocations{false};
void set_allocation_poison(bool enabled) { poison_allocations.store(enabled); }
bool allocation_poison() { return poison_allocations.load(std::memory_order_relaxed); }

// Four buckets per power of two (x, 1.25x, 1.5x, 1.75x), at least 512 bytes: at most 25% waste,
// and tensors of nearby sizes (sequences of varying length) share cached blocks.
size_t cache_bucket_bytes(size_t bytes) {
  if (bytes <= 512) return 512;
  int high_bit = 63 - __builtin_clzll(bytes);
  size_t quarter = size_t(1) << (high_bit - 2);
  return (bytes + quarter - 1) / quarter * quarter;
}

void AllocationCounters::on_allocate(int64_t bytes, bool from_cache) {
  int64_t in_use = bytes_in_use_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (in_use > peak && !peak_.compare_exchange_weak(peak, in_use, std::memory_order_relaxed)) {
  }
  live_.fetch_add(1, std::memory_order_relaxed);
  total_.fetch_add(1, std::memory_order_relaxed);
  if (from_cache) hits_.fetch_add(1, std::memory_order_relaxed);
}

void AllocationCounters::on_release(int64_t bytes) {
  bytes_in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  live_.fetch_sub(1, std::memory_order_relaxed);
}

void AllocationCounters::on_system_allocate(int64_t bytes) {
  reserved_.fetch_add(bytes, std::memory_order_relaxed);
  system_allocs_.fetch_add(1, std::memory_order_relaxed);
}

void AllocationCounters::on_system_free(int64_t bytes) {
  reserved_.fetch_sub(bytes, std::memory_order_relaxed);
  system_frees_.fetch_add(1, std::memory_order_relaxed);
}

MemoryStats AllocationCounters::snapshot() const {
  MemoryStats s;
  s.bytes_in_use = bytes_in_use_.load(std::memory_order_relaxed);
  s.peak_bytes_in_use = peak_.load(std::memory_order_relaxed);
  s.bytes_reserved = reserved_.load(std::memory_order_relaxed);
  s.live_blocks = live_.load(std::memory_order_relaxed);
  s.total_allocations = total_.load(std::memory_order_relaxed);
  s.cache_hits = hits_.load(std::memory_order_relaxed);
  s.device_allocations = system_allocs_.load(std::memory_order_relaxed);
  s.device_frees = system_frees_.load(std::memory_order_relaxed);
  return s;
}

CpuAllocator::~CpuAllocator() { empty_cache(); }

void* CpuAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t block = cache_bucket_bytes(bytes);
  void* ptr = nullptr;
  CpuStream* stream = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stream = stream_;
    auto cached = free_blocks_.find(block);
    if (cached != free_blocks_.end()) {
      ptr = cached->second;
      free_blocks_.erase(cached);
      cached_bytes_ -= int64_t(block);
    }
  }
  const bool from_cache = ptr != nullptr;
  if (!from_cache) {
    // 64-byte alignment for AVX-512 loads; buckets are multiples of 64 bytes.
    ptr = std::aligned_alloc(64, block);
    if (ptr == nullptr) {
      if (stream != nullptr) stream->synchronize_quietly();
      empty_cache();
      ptr = std::aligned_alloc(64, block);
    }
    if (ptr == nullptr)
      fail("cpu is out of memory: could not allocate ", bytes, " bytes (", counters_.snapshot().bytes_in_use,
           " bytes held by live tensors); dispose() tensors you no longer need or use tidy()");
    counters_.on_system_allocate(int64_t(block));
  }
  counters_.on_allocate(int64_t(block), from_cache);
  if (allocation_poison()) {
    // In stream order: a reused block may still be read by queued work.
    if (stream != nullptr)
      stream->enqueue([ptr, block] { std::memset(ptr, 0xFF, block); });
    else
      std::memset(ptr, 0xFF, block);
  }
  return ptr;
}

void CpuAllocator::release(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t block = cache_bucket_bytes(bytes);
  counters_.on_release(int64_t(block));
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_.emplace(block, ptr);
  cached_bytes_ += int64_t(block);
  if (cached_bytes_ > kMaxCachedBytes) trim_locked();
}

void CpuAllocator::trim_locked() {
  // Largest blocks first: fewest frees for the most memory.
  std::vector<std::pair<size_t, void*>> victims;
  while (cached_bytes_ > kMaxCachedBytes / 2 && !free_blocks_.empty()) {
    auto largest = std::prev(free_blocks_.end());
    victims.push_back(*largest);
    cached_bytes_ -= int64_t(largest->first);
    free_blocks_.erase(largest);
  }
  auto free_all = [this, victims] {
    for (auto& [block, ptr] : victims) {
      std::free(ptr);
      counters_.on_system_free(int64_t(block));
    }
  };
  if (stream_ != nullptr)
    stream_->enqueue(free_all);
  else
    free_all();
}

void CpuAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [block, ptr] : free_blocks_) {
    std::free(ptr);
    counters_.on_system_free(int64_t(block));
  }
  free_blocks_.clear();
  cached_bytes_ = 0;
}

void CpuAllocator::detach_stream() {
  std::lock_guard<std::mutex> lock(mutex_);
  stream_ = nullptr;
}

}  // namespace llmrec

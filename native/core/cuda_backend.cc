// Compiled into every build; empty unless the CUDA backend is (LLMREC_WITH_CUDA), so the
// CMake and node-gyp builds can glob the same sources.
#ifdef LLMREC_WITH_CUDA
#include "cuda_backend.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <map>

#include "../abi/error.h"

namespace llmrec {

namespace {

std::string cuda_error_text(cudaError_t code) {
  return std::string(cudaGetErrorName(code)) + ": " + cudaGetErrorString(code);
}

// Errors after which the CUDA context is corrupt and every later call fails the same way.
bool is_sticky(cudaError_t code) {
  switch (code) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorUnknown: return true;
    default: return false;
  }
}

// Both device and pinned host memory are cached in size buckets: cudaMalloc and cudaFree
// synchronise the device, so a training step must never reach them once warm. Blocks are
// reused only on the one stream of their device, so stream order makes reuse safe without
// events.
class CachingAllocator : public Allocator {
 public:
  CachingAllocator(Device device, bool pinned_host) : device_(device), pinned_host_(pinned_host) {}
  ~CachingAllocator() override { release_cache(); }

  // The stream that uses this allocator's blocks; poisoning is queued on it so it lands before
  // the kernels that write the block.
  void set_stream(cudaStream_t stream) { stream_ = stream; }

  void* allocate(size_t bytes) override {
    void* ptr = allocate_block(bytes);
    if (ptr != nullptr && !pinned_host_ && allocation_poison())
      cudaMemsetAsync(ptr, 0xFF, cache_bucket_bytes(bytes), stream_);
    return ptr;
  }

  void* allocate_block(size_t bytes) {
    if (bytes == 0) return nullptr;
    const size_t bucket = cache_bucket_bytes(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto cached = free_blocks_.find(bucket);
    if (cached != free_blocks_.end()) {
      void* ptr = cached->second;
      free_blocks_.erase(cached);
      cached_bytes_ -= int64_t(bucket);
      counters_.on_allocate(int64_t(bucket), true);
      return ptr;
    }
    void* ptr = system_allocate(bucket);
    if (ptr == nullptr) {
      // Out of memory: give the cache back to the driver and try once more.
      release_cache_locked();
      ptr = system_allocate(bucket);
    }
    if (ptr == nullptr) {
      MemoryStats s = counters_.snapshot();
      fail(pinned_host_ ? "pinned host memory" : device_.str(), " is out of memory: asked for ", bytes,
           " bytes with ", s.bytes_in_use,
           " bytes in use by live tensors; dispose() tensors you no longer need or use tidy()");
    }
    counters_.on_system_allocate(int64_t(bucket));
    counters_.on_allocate(int64_t(bucket), false);
    return ptr;
  }

  void release(void* ptr, size_t bytes) override {
    if (ptr == nullptr) return;
    const size_t bucket = cache_bucket_bytes(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_blocks_.emplace(bucket, ptr);
    cached_bytes_ += int64_t(bucket);
    counters_.on_release(int64_t(bucket));
  }

  MemoryStats stats() const override { return counters_.snapshot(); }
  void empty_cache() override { release_cache(); }
  Device device() const override { return device_; }

 private:
  void* system_allocate(size_t bytes) {
    void* ptr = nullptr;
    cudaError_t code = pinned_host_ ? cudaMallocHost(&ptr, bytes) : cudaMalloc(&ptr, bytes);
    if (code != cudaSuccess) {
      cudaGetLastError();  // out-of-memory is not sticky; clear it
      return nullptr;
    }
    return ptr;
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cache_locked();
  }

  void release_cache_locked() {
    if (free_blocks_.empty()) return;
    int previous = 0;
    cudaGetDevice(&previous);
    if (!pinned_host_) cudaSetDevice(device_.index);
    for (auto& [bucket, ptr] : free_blocks_) {
      // cudaFree waits for the device, so blocks still read by queued kernels are safe.
      if (pinned_host_)
        cudaFreeHost(ptr);
      else
        cudaFree(ptr);
      counters_.on_system_free(int64_t(bucket));
    }
    free_blocks_.clear();
    cached_bytes_ = 0;
    cudaSetDevice(previous);
  }

  const Device device_;
  const bool pinned_host_;
  cudaStream_t stream_ = nullptr;
  std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;
  int64_t cached_bytes_ = 0;
  AllocationCounters counters_;
};

bool arch_supported(int major, int minor, std::string* why) {
  // The fat binary holds sm_80 and sm_90 machine code and compute_90 PTX (CMakeLists.txt).
  if (major >= 8) return true;
  *why = "compute capability " + std::to_string(major) + "." + std::to_string(minor) +
         " is older than sm_80, the oldest architecture this build targets";
  return false;
}

}  // namespace

class PinnedHostPool : public CachingAllocator {
 public:
  PinnedHostPool() : CachingAllocator(Device::cpu(), true) {}
};

struct CudaDevice::Readback {
  std::shared_ptr<Allocator> pool;
  void* pinned = nullptr;
  size_t bytes = 0;
  cudaEvent_t done = nullptr;
  uint64_t window = 0;  // the error window that covers the work queued before the copy
  const char* op = "";
  ~Readback() {
    if (done != nullptr) cudaEventDestroy(done);
    pool->release(pinned, bytes);
  }
};

namespace {
// A closed error window's records on their way to the host.
struct RecordCopy {
  std::shared_ptr<Allocator> pool;
  KernelErrorRecord* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t done = nullptr;
  ~RecordCopy() {
    if (done != nullptr) cudaEventDestroy(done);
    pool->release(host, bytes);
  }
};
}  // namespace

const CudaDiscovery& discover_cuda() {
  static const CudaDiscovery discovery = [] {
    CudaDiscovery d;
    d.compiled = true;
    cudaRuntimeGetVersion(&d.runtime_version);
    cudaDriverGetVersion(&d.driver_version);
    int count = 0;
    cudaError_t code = cudaGetDeviceCount(&count);
    if (code != cudaSuccess) {
      cudaGetLastError();
      if (code == cudaErrorInsufficientDriver || code == cudaErrorNoDevice) {
        d.reason = code == cudaErrorInsufficientDriver
                       ? "CUDA compiled in, no driver found (or the driver is older than CUDA " +
                             std::to_string(d.runtime_version / 1000) + "." +
                             std::to_string(d.runtime_version % 1000 / 10) + ")"
                       : "CUDA compiled in and a driver found, but no CUDA device is visible";
      } else {
        d.reason = "CUDA compiled in, but cudaGetDeviceCount failed: " + cuda_error_text(code);
      }
      return d;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      CudaDeviceInfo info;
      info.index = i;
      info.name = prop.name;
      info.total_memory = int64_t(prop.totalGlobalMem);
      info.compute_major = prop.major;
      info.compute_minor = prop.minor;
      info.multiprocessors = prop.multiProcessorCount;
      info.l2_cache_bytes = prop.l2CacheSize;
      info.shared_memory_per_block_optin = int64_t(prop.sharedMemPerBlockOptin);
      info.supported = arch_supported(prop.major, prop.minor, &info.unsupported_why);
      d.usable = d.usable || info.supported;
      d.devices.push_back(info);
    }
    if (d.devices.empty())
      d.reason = "CUDA compiled in, but no CUDA device is visible";
    else if (!d.usable)
      d.reason = "no CUDA device is supported: " + d.devices[0].unsupported_why;
    return d;
  }();
  return discovery;
}

CudaDevice::CudaDevice(int index) : index_(index) {
  const CudaDiscovery& d = discover_cuda();
  if (!d.usable) fail("cuda:", index, " is not usable: ", d.reason);
  if (index < 0 || index >= int(d.devices.size()))
    fail("cuda:", index, " does not exist: ", d.devices.size(), " CUDA device(s) visible");
  const CudaDeviceInfo& info = d.devices[size_t(index)];
  if (!info.supported) fail("cuda:", index, " (", info.name, ") is not supported: ", info.unsupported_why);
  cudaSetDevice(index);
  cudaStream_t stream = nullptr;
  cudaError_t code = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (code != cudaSuccess) raise_cuda_error(code, "cuda device setup", "cudaStreamCreate");
  auto allocator = std::make_shared<CachingAllocator>(Device::cuda(index), false);
  allocator->set_stream(stream);
  allocator_ = allocator;
  pinned_ = std::make_shared<PinnedHostPool>();
  stream_.stream = stream;
  stream_.device = index;
  stream_.scratch = allocator_.get();
  stream_.multiprocessors = info.multiprocessors;
  stream_.max_shared_memory_per_block = int(info.shared_memory_per_block_optin);
  stream_.errors =
      static_cast<KernelErrorRecord*>(allocator_->allocate(kErrorSlots * sizeof(KernelErrorRecord)));
  cudaMemsetAsync(stream_.errors, 0, kErrorSlots * sizeof(KernelErrorRecord), stream);
  windows_ = std::make_unique<ErrorWindows>(kErrorSlots,
                                            [this](int count) { return queue_error_record_copy(count); });
}

CudaDevice::~CudaDevice() {
  if (stream_.stream != nullptr) {
    cudaStreamSynchronize(stream_.stream);
    cudaStreamDestroy(stream_.stream);
    cudaGetLastError();
  }
  windows_.reset();  // closed windows hold events and pinned blocks
  allocator_->release(stream_.errors, kErrorSlots * sizeof(KernelErrorRecord));
}

bool CudaDevice::admit(PoisonFlow flow, CudaStream* stream) {
  const int slot = windows_->admit(std::move(flow));
  if (slot < 0) return false;
  *stream = stream_;
  stream->errors = stream_.errors + slot;
  return true;
}

void CudaDevice::activate(const char* op) {
  {
    std::lock_guard<std::mutex> lock(sticky_mutex_);
    if (!sticky_error_.empty())
      fail(op, ": cuda:", index_, " is unusable after an earlier CUDA error (", sticky_error_,
           "); restart the process to use the GPU again");
  }
  cudaError_t code = cudaSetDevice(index_);
  if (code != cudaSuccess) raise_cuda_error(code, op, "cudaSetDevice");
}

void CudaDevice::raise_cuda_error(int raw_code, const char* op, const char* call) {
  cudaError_t code = cudaError_t(raw_code);
  std::string text = cuda_error_text(code);
  if (is_sticky(code)) {
    std::lock_guard<std::mutex> lock(sticky_mutex_);
    if (sticky_error_.empty()) sticky_error_ = text;
    fail(op, ": ", call, " failed on cuda:", index_, " with ", text,
         ". This error is sticky: the device is unusable until the process restarts");
  }
  cudaGetLastError();
  fail(op, ": ", call, " failed on cuda:", index_, " with ", text);
}

void CudaDevice::check_launch(const char* op) {
  cudaError_t code = cudaGetLastError();
  if (code != cudaSuccess) raise_cuda_error(code, op, "kernel launch");
}

// Copies the first `count` kernel error records to pinned host memory and clears them, both
// queued on the stream from the thread that launches kernels: a clear issued later (from a
// worker, after kernels launched in the meantime) could wipe an error one of those kernels had
// just recorded. The returned wait may run on a worker thread.
ErrorWindows::Pending CudaDevice::queue_error_record_copy(int count) {
  auto copy = std::make_shared<RecordCopy>();
  copy->pool = pinned_;
  copy->bytes = size_t(count) * sizeof(KernelErrorRecord);
  copy->host = static_cast<KernelErrorRecord*>(pinned_->allocate(copy->bytes));
  cudaError_t code =
      cudaMemcpyAsync(copy->host, stream_.errors, copy->bytes, cudaMemcpyDeviceToHost, stream_.stream);
  if (code == cudaSuccess) code = cudaMemsetAsync(stream_.errors, 0, copy->bytes, stream_.stream);
  if (code == cudaSuccess) code = cudaEventCreateWithFlags(&copy->done, cudaEventDisableTiming);
  if (code == cudaSuccess) code = cudaEventRecord(copy->done, stream_.stream);
  if (code != cudaSuccess) raise_cuda_error(code, "checking kernel errors", "cudaMemcpyAsync(error records)");
  ErrorWindows::Pending pending;
  pending.wait = [this, copy]() -> const KernelErrorRecord* {
    cudaError_t code = cudaSetDevice(index_);
    if (code == cudaSuccess) code = cudaEventSynchronize(copy->done);
    if (code != cudaSuccess) raise_cuda_error(code, "checking kernel errors", "cudaEventSynchronize");
    return copy->host;
  };
  // Not ready: the copy is still queued. Any other answer lets wait() report it (or return).
  pending.ready = [copy] {
    if (cudaEventQuery(copy->done) != cudaErrorNotReady) return true;
    if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();  // "not ready" is no error
    return false;
  };
  return pending;
}

void CudaDevice::synchronize(const char* op) {
  activate(op);
  const uint64_t window = windows_->close();
  cudaError_t code = cudaStreamSynchronize(stream_.stream);
  if (code != cudaSuccess) raise_cuda_error(code, op, "cudaStreamSynchronize");
  windows_->resolve_through(window);
  if (std::exception_ptr error = windows_->take_error()) std::rethrow_exception(error);
}

void CudaDevice::copy_to_device(void* dst, const void* src, size_t bytes, const char* op) {
  if (bytes == 0) return;
  activate(op);
  cudaError_t code = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_.stream);
  if (code != cudaSuccess) raise_cuda_error(code, op, "cudaMemcpyAsync(host to device)");
}

void CudaDevice::copy_device_to_device(void* dst, const void* src, size_t bytes, const char* op) {
  if (bytes == 0) return;
  activate(op);
  cudaError_t code = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_.stream);
  if (code != cudaSuccess) raise_cuda_error(code, op, "cudaMemcpyAsync(device to device)");
}

void CudaDevice::copy_to_host_blocking(void* dst, const void* src, size_t bytes, const char* op) {
  auto readback = begin_readback(src, bytes, op);
  finish_readback(*readback, dst);
}

std::shared_ptr<CudaDevice::Readback> CudaDevice::begin_readback(const void* src, size_t bytes,
                                                                 const char* op) {
  activate(op);
  auto readback = std::make_shared<Readback>();
  readback->pool = pinned_;
  readback->bytes = bytes;
  readback->op = op;
  readback->pinned = pinned_->allocate(bytes);
  cudaError_t code = cudaSuccess;
  if (bytes > 0) code = cudaMemcpyAsync(readback->pinned, src, bytes, cudaMemcpyDeviceToHost, stream_.stream);
  if (code == cudaSuccess) code = cudaEventCreateWithFlags(&readback->done, cudaEventDisableTiming);
  if (code == cudaSuccess) code = cudaEventRecord(readback->done, stream_.stream);
  if (code != cudaSuccess) raise_cuda_error(code, op, "cudaMemcpyAsync(device to host)");
  readback->window = windows_->close();
  return readback;
}

void CudaDevice::finish_readback(Readback& readback, void* dst) {
  // Often called on a libuv worker thread, whose current device is not ours by default.
  cudaError_t code = cudaSetDevice(index_);
  if (code == cudaSuccess) code = cudaEventSynchronize(readback.done);
  if (code != cudaSuccess) raise_cuda_error(code, readback.op, "reading back a tensor");
  windows_->resolve_through(readback.window);
  if (readback.bytes > 0) std::memcpy(dst, readback.pinned, readback.bytes);
}

}  // namespace llmrec

#endif  // LLMREC_WITH_CUDA

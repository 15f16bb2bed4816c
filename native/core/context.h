// Everything one addon instance owns: its CPU stream and, lazily, one CudaDevice per GPU it
// touches. Each instance (the main thread, each worker_thread) has its own Context, so streams
// and errors never leak between instances.
#pragma once

#include <array>
#include <memory>
#include <mutex>

#include "allocator.h"
#include "cpu_stream.h"
#include "device.h"
#include "tensor.h"

namespace llmrec {

class CudaDevice;
// Defined in context.cc, where CudaDevice is complete in CUDA builds (and never allocated in
// the others).
struct CudaDeviceDeleter {
  void operator()(CudaDevice* device) const;
};

constexpr int kMaxCudaDevices = 16;

class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  CpuStream& cpu_stream() { return *cpu_stream_; }

  // The device's state, created on first use; throws with the reason when the device cannot be
  // used (CUDA not compiled in, no driver, no such device, sticky error).
  CudaDevice& cuda(int index, const char* op);

  std::shared_ptr<Allocator> allocator(const Device& device, const char* op);

  // A new uninitialised tensor.
  Tensor empty(const Shape& shape, DType dtype, const Device& device, const char* op);

  // Waits for the device's queued work; throws errors deferred by that work.
  void synchronize(const Device& device, const char* op);

  // For a read of a tensor whose work has run (and, on CUDA, whose error records were settled
  // by the read-back): throws the error that poisoned its storage (the failure of the op that
  // produced it or of one it was computed from), if any.
  void raise_if_poisoned(const Tensor& tensor);

  // Statistics of the device's allocator; zeros for a CUDA device this context never used.
  MemoryStats memory(const Device& device);
  void empty_cache(const Device& device);

 private:
  // The stream is declared first: the allocator queues its poisoning and frees on it, and the
  // destructor tears them down in the right order explicitly.
  std::unique_ptr<CpuStream> cpu_stream_;
  std::shared_ptr<CpuAllocator> cpu_allocator_;
  std::mutex cuda_mutex_;
  std::array<std::unique_ptr<CudaDevice, CudaDeviceDeleter>, kMaxCudaDevices> cuda_;
};

}  // namespace llmrec

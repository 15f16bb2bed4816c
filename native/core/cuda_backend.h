// CUDA as one addon instance sees it: per device, one stream, one caching allocator and one
// kernel error record. The declarations are plain C++ so that CPU-only builds type-check the
// same call sites; the definitions (cuda_backend.cc) are compiled only with LLMREC_WITH_CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../abi/kernel_api.h"
#include "allocator.h"

namespace llmrec {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int64_t total_memory = 0;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  int64_t l2_cache_bytes = 0;
  int64_t shared_memory_per_block_optin = 0;
  bool supported = false;       // this build carries code that runs on it
  std::string unsupported_why;  // set when !supported
};

struct CudaDiscovery {
  bool compiled = false;
  bool usable = false;  // at least one supported device
  std::string reason;   // why CUDA is not usable, when !usable
  int driver_version = 0, runtime_version = 0;
  std::vector<CudaDeviceInfo> devices;
};

// Process-wide and computed once: the answer cannot change while the process runs.
const CudaDiscovery& discover_cuda();

class CudaDevice {
 public:
  explicit CudaDevice(int index);
  ~CudaDevice();
  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  int index() const { return index_; }
  const CudaStream& stream() const { return stream_; }
  std::shared_ptr<Allocator> allocator() const { return allocator_; }

  // Makes this device current on the calling thread and throws if an earlier sticky error made
  // it unusable.
  void activate(const char* op);
  // Throws if the launches just made by `op` failed to start.
  void check_launch(const char* op);
  // Waits for all queued work, then throws a sticky CUDA error or a kernel-reported error.
  void synchronize(const char* op);

  // Host <-> device copies in stream order. to_device reads `src` before returning.
  void copy_to_device(void* dst, const void* src, size_t bytes, const char* op);
  void copy_to_host_blocking(void* dst, const void* src, size_t bytes, const char* op);
  void copy_device_to_device(void* dst, const void* src, size_t bytes, const char* op);

  // An asynchronous read-back: begin() queues the copy on the JS thread (so it sees exactly the
  // work queued before it), finish() runs on a worker thread, waits for the copy and fills `dst`.
  struct Readback;
  std::shared_ptr<Readback> begin_readback(const void* src, size_t bytes, const char* op);
  void finish_readback(Readback& readback, void* dst);

 private:
  void raise_if_kernel_error(const KernelErrorRecord& record);
  int queue_error_record_copy(void* host);  // a cudaError_t
  [[noreturn]] void raise_cuda_error(int code, const char* op, const char* call);

  int index_;
  CudaStream stream_;
  std::shared_ptr<Allocator> allocator_;
  std::shared_ptr<class PinnedHostPool> pinned_;
  std::mutex sticky_mutex_;
  std::string sticky_error_;  // set once a sticky error has poisoned the device's context
};

}  // namespace llmrec

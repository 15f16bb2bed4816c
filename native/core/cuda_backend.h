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
#include "poison.h"

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
  // Waits for all queued work, then throws a sticky CUDA error, or the first kernel-reported
  // error not yet reported with a tensor it spoiled.
  void synchronize(const char* op);

  // Kernel errors are tracked per op (poison.h). admit() is called for each op before its work
  // is queued: it returns false when the work must not run (it reads a storage known to be
  // poisoned; its outputs have taken that error), else fills `stream` with the op's own error
  // record slot. fail_admitted(): the host side of that op's work threw.
  bool admit(PoisonFlow flow, CudaStream* stream);
  void fail_admitted(const std::exception_ptr& error) { windows_->fail_last(error); }
  // A kernel error reported with the tensor it spoiled is not thrown again by synchronize().
  void forget_error(const std::exception_ptr& error) { windows_->forget_error(error); }

  // Host <-> device copies in stream order. to_device reads `src` before returning.
  void copy_to_device(void* dst, const void* src, size_t bytes, const char* op);
  void copy_to_host_blocking(void* dst, const void* src, size_t bytes, const char* op);
  void copy_device_to_device(void* dst, const void* src, size_t bytes, const char* op);

  // An asynchronous read-back: begin() queues the copy on the JS thread (so it sees exactly the
  // work queued before it), finish() runs on a worker thread, waits for the copy, settles the
  // error records of the work queued before it and fills `dst`. The caller then checks whether
  // the source storage is poisoned (Context::raise_if_poisoned): an error of other work is not
  // this read's to report.
  struct Readback;
  std::shared_ptr<Readback> begin_readback(const void* src, size_t bytes, const char* op);
  void finish_readback(Readback& readback, void* dst);

 private:
  ErrorWindows::Pending queue_error_record_copy(int count);
  [[noreturn]] void raise_cuda_error(int code, const char* op, const char* call);

  int index_;
  CudaStream stream_;
  std::shared_ptr<Allocator> allocator_;
  std::shared_ptr<class PinnedHostPool> pinned_;
  std::mutex sticky_mutex_;
  std::string sticky_error_;  // set once a sticky error has poisoned the device's context
  // The ops queued since the last check and their record slots (stream_.errors[0, kErrorSlots)).
  static constexpr int kErrorSlots = 256;
  std::unique_ptr<ErrorWindows> windows_;
};

}  // namespace llmrec

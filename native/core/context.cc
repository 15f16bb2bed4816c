#include "context.h"

#include <string>

#include "../abi/error.h"
#ifdef LLMREC_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace llmrec {

void CudaDeviceDeleter::operator()(CudaDevice* device) const {
#ifdef LLMREC_WITH_CUDA
  delete device;
#else
  (void)device;
#endif
}

Context::Context()
    : cpu_stream_(std::make_unique<CpuStream>()),
      cpu_allocator_(std::make_shared<CpuAllocator>(cpu_stream_.get())) {}

Context::~Context() {
  // Run what is queued (it may hold storages of any device), then let storages that outlive the
  // context (JS handles not yet collected) free their blocks directly.
  cpu_stream_.reset();
  cpu_allocator_->detach_stream();
}

CudaDevice& Context::cuda(int index, const char* op) {
#ifdef LLMREC_WITH_CUDA
  if (index < 0 || index >= kMaxCudaDevices) fail(op, ": cuda:", index, " does not exist");
  std::lock_guard<std::mutex> lock(cuda_mutex_);
  auto& slot = cuda_[size_t(index)];
  if (!slot) slot.reset(new CudaDevice(index));
  return *slot;
#else
  fail(op, ": cuda:", index,
       " is not available: this build of llmrec has no CUDA backend (it was built without nvcc or "
       "with LLMREC_CUDA=off); rebuild with `LLMREC_CUDA=on npm run build:native`");
#endif
}

std::shared_ptr<Allocator> Context::allocator(const Device& device, const char* op) {
  if (device.is_cpu()) return cpu_allocator_;
#ifdef LLMREC_WITH_CUDA
  return cuda(device.index, op).allocator();
#else
  cuda(device.index, op);
  return nullptr;
#endif
}

Tensor Context::empty(const Shape& shape, DType dtype, const Device& device, const char* op) {
  Tensor tensor;
  tensor.numel = checked_numel(shape, op);
  tensor.shape = shape;
  tensor.dtype = dtype;
  tensor.storage = std::make_shared<Storage>(allocator(device, op), size_t(tensor.numel) * dtype_size(dtype));
  return tensor;
}

void Context::synchronize(const Device& device, const char* op) {
  if (device.is_cpu()) {
    cpu_stream_->synchronize();
    return;
  }
#ifdef LLMREC_WITH_CUDA
  cuda(device.index, op).synchronize(op);
#else
  cuda(device.index, op);
#endif
}

void Context::raise_if_poisoned(const Tensor& tensor) {
  if (std::exception_ptr error = tensor.storage->poison()->error()) {
    // Reported here, with the tensor it spoiled: synchronize() does not throw it again. The
    // error may come from another device (a poisoned tensor copied across), so every device
    // forgets it.
    cpu_stream_->forget_error(error);
#ifdef LLMREC_WITH_CUDA
    {
      std::lock_guard<std::mutex> lock(cuda_mutex_);
      for (auto& device : cuda_)
        if (device) device->forget_error(error);
    }
#endif
    std::rethrow_exception(error);
  }
}

MemoryStats Context::memory(const Device& device) {
  if (device.is_cpu()) return cpu_allocator_->stats();
#ifdef LLMREC_WITH_CUDA
  // Zeros are the truth for a usable device nothing was allocated on; for a device that does not
  // exist or cannot run they would hide a typo, so those are refused with the reason.
  const CudaDiscovery& found = discover_cuda();
  if (device.index < 0 || device.index >= kMaxCudaDevices || size_t(device.index) >= found.devices.size())
    fail("memory: cuda:", device.index, " does not exist; ",
         found.devices.empty()
             ? found.reason
             : "this machine has " + std::to_string(found.devices.size()) + " CUDA device(s)");
  std::lock_guard<std::mutex> lock(cuda_mutex_);
  if (cuda_[size_t(device.index)]) return cuda_[size_t(device.index)]->allocator()->stats();
  return MemoryStats{};
#else
  cuda(device.index, "memory");  // throws: no CUDA backend in this build
  return MemoryStats{};
#endif
}

void Context::empty_cache(const Device& device) {
  if (device.is_cpu()) {
    cpu_stream_->synchronize_quietly();
    cpu_allocator_->empty_cache();
    return;
  }
#ifdef LLMREC_WITH_CUDA
  std::lock_guard<std::mutex> lock(cuda_mutex_);
  if (device.index >= 0 && device.index < kMaxCudaDevices && cuda_[size_t(device.index)])
    cuda_[size_t(device.index)]->allocator()->empty_cache();
#endif
}

}  // namespace llmrec

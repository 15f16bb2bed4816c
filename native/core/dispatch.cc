#include "dispatch.h"

#include <vector>

#include "error.h"
#ifdef LLMREC_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace llmrec {

void submit(Context& ctx, const Device& device, const char* op,
            std::initializer_list<const Tensor*> keep_alive, std::function<void(const Exec&)> work) {
  if (device.is_cpu()) {
    std::vector<std::shared_ptr<Storage>> storages;
    storages.reserve(keep_alive.size());
    for (const Tensor* tensor : keep_alive)
      if (tensor != nullptr && tensor->storage) storages.push_back(tensor->storage);
    ctx.cpu_stream().enqueue([storages = std::move(storages), work = std::move(work)] {
      work(Exec{Device::cpu(), {}});
    });
    return;
  }
#ifdef LLMREC_WITH_CUDA
  // Launches are asynchronous and the allocator reuses blocks in stream order, so nothing needs
  // to be kept alive beyond the call.
  CudaDevice& cuda = ctx.cuda(device.index, op);
  cuda.activate(op);
  work(Exec{device, cuda.stream()});
  cuda.check_launch(op);
#else
  (void)keep_alive;
  (void)work;
  ctx.cuda(device.index, op);
#endif
}

void expect_device(const char* op, const Device& device,
                   std::initializer_list<std::pair<const char*, const Tensor*>> tensors) {
  for (const auto& [name, tensor] : tensors) {
    if (tensor == nullptr || !tensor->defined()) continue;
    if (tensor->device() != device)
      fail(op, ": '", name, "' is on ", tensor->device().str(), " but the op runs on ", device.str(),
           "; move it with .to('", device.str(), "')");
  }
}

}  // namespace llmrec

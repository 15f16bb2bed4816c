#include "dispatch.h"

#include "error.h"
#ifdef LLMREC_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace llmrec {

void submit(Context& ctx, const Device& device, const char* op, std::initializer_list<const Tensor*> touched,
            std::function<void(const Exec&)> work) {
  // Both allocators reuse blocks in stream order, so the work need not pin its tensors' storage;
  // the list is a last line of defence against an op that forgot to check devices.
  for (const Tensor* tensor : touched)
    if (tensor != nullptr && tensor->defined() && tensor->device() != device)
      fail(op, ": internal error: a ", tensor->device().str(), " tensor reached work queued on ",
           device.str());
  if (device.is_cpu()) {
    ctx.cpu_stream().enqueue([work = std::move(work)] { work(Exec{Device::cpu(), {}}); });
    return;
  }
#ifdef LLMREC_WITH_CUDA
  CudaDevice& cuda = ctx.cuda(device.index, op);
  cuda.activate(op);
  work(Exec{device, cuda.stream()});
  cuda.check_launch(op);
#else
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

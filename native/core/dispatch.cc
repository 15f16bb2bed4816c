#include "dispatch.h"

#include <memory>
#include <vector>

#include "../abi/error.h"
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
    // A failed op's outputs stay poisoned: the storages this work produces (or, for in-place work
    // that produces none, all it touches) take its error, and work that reads a poisoned storage
    // is skipped and passes the error on. Every read of a failed result, and of anything computed
    // from it, then throws the original error; unrelated tensors read normally.
    std::vector<std::shared_ptr<Poison>> produced, consumed;
    for (const Tensor* tensor : touched) {
      if (tensor == nullptr || !tensor->defined()) continue;
      (tensor->storage->produced ? consumed : produced).push_back(tensor->storage->poison());
      tensor->storage->produced = true;
    }
    ctx.cpu_stream().enqueue(
        [work = std::move(work), produced = std::move(produced), consumed = std::move(consumed)] {
          const auto poison_outputs = [&](const std::exception_ptr& error) {
            for (const auto& poison : produced.empty() ? consumed : produced) poison->mark(error);
          };
          for (const auto& input : consumed)
            if (std::exception_ptr error = input->error())
              return poison_outputs(error);  // reported once already
          try {
            work(Exec{Device::cpu(), {}});
          } catch (...) {
            poison_outputs(std::current_exception());
            throw;  // the stream keeps it for synchronize()
          }
        });
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

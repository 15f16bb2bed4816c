#include "dispatch.h"

#include <exception>

#include "../abi/error.h"
#include "poison.h"
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
  // A failed op's outputs stay poisoned (poison.h): the storages this work produces (or, for
  // in-place work that produces none, all it touches) take its error, and work that reads a
  // poisoned storage is skipped and passes the error on.
  PoisonFlow flow = PoisonFlow::of(touched);
  if (device.is_cpu()) {
    ctx.cpu_stream().enqueue([work = std::move(work), flow = std::move(flow)] {
      if (std::exception_ptr error = flow.input_error())
        return flow.poison_outputs(error);  // reported once already
      try {
        work(Exec{Device::cpu(), {}});
      } catch (...) {
        flow.poison_outputs(std::current_exception());
        throw;  // the stream keeps it for synchronize()
      }
    });
    return;
  }
#ifdef LLMREC_WITH_CUDA
  CudaDevice& cuda = ctx.cuda(device.index, op);
  cuda.activate(op);
  // Kernels report bad input in the op's own error record slot; the device settles the slots of
  // the ops queued since its last check when it next checks (a read-back or synchronize()).
  CudaStream stream;
  if (!cuda.admit(std::move(flow), &stream)) return;  // reads a poisoned storage: skipped
  try {
    work(Exec{device, stream});
    cuda.check_launch(op);
  } catch (...) {
    cuda.fail_admitted(std::current_exception());  // the host side of the twin or a launch failed
    throw;
  }
#else
  (void)work;
  (void)flow;
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

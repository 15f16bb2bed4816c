// How an op reaches its kernel twin. An op validates its tensors, allocates its outputs, fills
// the family's parameter struct and calls submit(); submit runs the work in stream order on the
// tensors' device. List every tensor the work reads or writes (they must all be on that device):
//
//   submit(ctx, out.device(), "add", {&a, &b, &out}, [params](const Exec& exec) {
//     if (exec.on_cpu()) kernels::cpu::binary(params);
//     else LLMREC_CUDA_TWIN(kernels::cuda::binary(params, exec.cuda));
//   });
#pragma once

#include <functional>
#include <initializer_list>

#include "../kernels/kernel_api.h"
#include "context.h"
#include "tensor.h"

namespace llmrec {

struct Exec {
  Device device;
  CudaStream cuda;  // meaningful only when device is CUDA
  bool on_cpu() const { return device.is_cpu(); }
};

void submit(Context& ctx, const Device& device, const char* op, std::initializer_list<const Tensor*> touched,
            std::function<void(const Exec&)> work);

// Throws unless every tensor is on `device`; names the first one that is not.
void expect_device(const char* op, const Device& device,
                   std::initializer_list<std::pair<const char*, const Tensor*>> tensors);

}  // namespace llmrec

#ifdef LLMREC_WITH_CUDA
#define LLMREC_CUDA_TWIN(call) call
#else
#define LLMREC_CUDA_TWIN(call) ::llmrec::fail("this build of llmrec has no CUDA backend")
#endif

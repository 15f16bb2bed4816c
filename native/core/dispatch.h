// How an op reaches its kernel twin. An op validates its tensors, allocates its outputs, fills
// the family's parameter struct and calls submit_twins(); it runs the CPU twin or the CUDA twin
// in stream order on the tensors' device. List every tensor the work reads or writes (they must
// all be on that device):
//
//   submit_twins(ctx, out.device(), "add", {&a, &b, &out}, LLMREC_TWINS(binary), params);
//
// submit() takes any callable for work that is not one twin call.
#pragma once

#include <functional>
#include <initializer_list>

#include "../abi/error.h"
#include "../abi/kernel_api.h"
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

// The two twins of one kernel: kernels::cpu::f(const P&) and kernels::cuda::f(const P&, const
// CudaStream&). Built with LLMREC_TWINS(f); `cuda` is null in a build without the CUDA backend
// (such a build never reaches it: a CUDA device cannot be opened there).
template <class P>
struct Twins {
  using CpuFn = void (*)(const P&);
  using CudaFn = void (*)(const P&, const CudaStream&);
  CpuFn cpu;
  CudaFn cuda;
  // Runs the twin for exec's device, inside submitted work.
  void operator()(const P& params, const Exec& exec) const {
    if (exec.on_cpu())
      cpu(params);
    else if (cuda != nullptr)
      cuda(params, exec.cuda);
    else
      fail("this build of llmrec has no CUDA backend");
  }
};

template <class P>
Twins<P> twins(void (*cpu)(const P&), typename Twins<P>::CudaFn cuda) {
  return Twins<P>{cpu, cuda};
}

// Queues one twin call with a copy of `params` (raw pointers and sizes only).
template <class P>
void submit_twins(Context& ctx, const Device& device, const char* op,
                  std::initializer_list<const Tensor*> touched, Twins<P> twins, const P& params) {
  submit(ctx, device, op, touched, [twins, params](const Exec& exec) { twins(params, exec); });
}

// Throws unless every tensor is on `device`; names the first one that is not.
void expect_device(const char* op, const Device& device,
                   std::initializer_list<std::pair<const char*, const Tensor*>> tensors);

}  // namespace llmrec

#ifdef LLMREC_WITH_CUDA
#define LLMREC_TWINS(fn) ::llmrec::twins(&::llmrec::kernels::cpu::fn, &::llmrec::kernels::cuda::fn)
#else
#define LLMREC_TWINS(fn) ::llmrec::twins(&::llmrec::kernels::cpu::fn, nullptr)
#endif

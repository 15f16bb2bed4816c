#include "copy.h"

#include <cstring>
#include <exception>
#include <vector>

#include "dispatch.h"
#ifdef LLMREC_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace llmrec {

Tensor copy_to(Context& ctx, const Tensor& x, const Device& device) {
  Tensor result = ctx.empty(x.shape, x.dtype, device, "to");
  const size_t bytes = x.nbytes();
  if (bytes == 0) return result;
  const Device from = x.device();
  if (from.is_cpu() && device.is_cpu()) {
    const void* src = x.data();
    void* dst = result.data();
    submit(ctx, device, "to", {&x, &result},
           [src, dst, bytes](const Exec&) { std::memcpy(dst, src, bytes); });
    return result;
  }
#ifdef LLMREC_WITH_CUDA
  // Copies that leave a device are not queued through submit(), so they carry the source's
  // poison across themselves: a copy of a failed result is as unreadable as the result.
  const auto carry_poison = [&] {
    result.storage->produced = true;
    if (std::exception_ptr error = x.storage->poison()->error()) result.storage->poison()->mark(error);
  };
  if (from.is_cpu()) {
    ctx.cpu_stream().synchronize_quietly();  // the source may still be written by queued CPU work
    carry_poison();
    ctx.cuda(device.index, "to").copy_to_device(result.data(), x.data(), bytes, "to");
  } else if (device.is_cpu()) {
    // The new block may still be read by queued CPU work from its previous life.
    ctx.cpu_stream().synchronize_quietly();
    ctx.cuda(from.index, "to").copy_to_host_blocking(result.data(), x.data(), bytes, "to");
    carry_poison();  // the read-back settled the errors of the work that wrote x
  } else if (from == device) {
    CudaDevice& cuda = ctx.cuda(from.index, "to");
    const void* src = x.data();
    void* dst = result.data();
    submit(ctx, device, "to", {&x, &result},
           [&cuda, src, dst, bytes](const Exec&) { cuda.copy_device_to_device(dst, src, bytes, "to"); });
  } else {
    // Across GPUs through the host: correct everywhere, and rare enough not to need peer access.
    std::vector<char> staging(bytes);
    ctx.cuda(from.index, "to").copy_to_host_blocking(staging.data(), x.data(), bytes, "to");
    carry_poison();
    ctx.cuda(device.index, "to").copy_to_device(result.data(), staging.data(), bytes, "to");
    ctx.cuda(device.index, "to").synchronize("to");
  }
#endif
  return result;
}

}  // namespace llmrec

// What every kernel twin may see of the runtime: plain data, no tensors and no N-API.
//
// CPU twins are plain functions of a parameter struct. CUDA launchers take the same struct and
// a CudaStream. Kernels that find bad data (an index out of range, say) cannot throw on the
// device, so they write a KernelErrorRecord; the runtime turns it into a JS Error at the next
// synchronisation. The CPU twins throw the same message at once via throw_kernel_error().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;  // the same typedef as cuda_runtime_api.h

namespace llmrec {

// Stream-ordered scratch memory for CUDA launchers (core's caching allocator implements it):
// allocate, queue the launches that use the block, release right away.
class ScratchAllocator {
 public:
  virtual ~ScratchAllocator() = default;
  // At least `bytes` bytes, 256-byte aligned; throws llmrec::Error when out of memory.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr, size_t bytes) = 0;
};

// One per device and context, in device memory. `site` 0 means no error.
struct KernelErrorRecord {
  int site;
  int reserved;
  long long value;
  long long limit;
};

// Registers a message for a kernel error site and returns its id (> 0). The template may use
// {value} and {limit}, e.g. "embedding: index {value} is out of range for a table of {limit}
// rows". Call once per site, at static-initialisation time.
int register_kernel_error_site(const char* message_template);
std::string format_kernel_error(int site, long long value, long long limit);
[[noreturn]] void throw_kernel_error(int site, long long value, long long limit);

// Kernel variants (llm.c style: a simple reference kernel beside the fast ones). Each family
// lists its variants once, in the table in native/core/kernel_variants.cc; the first is the
// reference the GPU suite validates the others against (test/kernel-variants.test.ts), and
// `npm run bench -- --variants` times them all.
struct KernelVariantFamily {
  const char* family;
  std::vector<const char*> variants;  // variants[0] is the reference
  const char* default_rule;           // what the launcher picks when none is selected
};
const std::vector<KernelVariantFamily>& kernel_variant_table();

// The variant selected for a family, or "" for the launcher's default. Read once per process
// from LLMREC_KERNEL_<FAMILY> (upper case, e.g. LLMREC_KERNEL_GEMM=reference); an unknown name
// is an Error naming the family's variants. Cheap: launchers call it on every launch.
std::string kernel_variant(const char* family);
// Selects `name` ("" for the default) for every later launch in the process (tests, benchmarks).
void set_kernel_variant(const std::string& family, const std::string& name);

struct CudaStream {
  cudaStream_t stream = nullptr;
  int device = 0;
  KernelErrorRecord* errors = nullptr;  // device pointer
  ScratchAllocator* scratch = nullptr;  // stream-ordered: release right after the launches
  int multiprocessors = 0;
  int max_shared_memory_per_block = 0;  // opt-in maximum, bytes
};

// Declares the two twins of one kernel, inside namespace llmrec::kernels: kernels::cpu::name(const
// Params&) and kernels::cuda::name(const Params&, const CudaStream&), the pair that
// LLMREC_TWINS(name) in native/core/dispatch.h hands to submit_twins. One line per kernel:
//   LLMREC_KERNEL_TWINS(attention_forward, AttentionForwardParams);
#define LLMREC_KERNEL_TWINS(name, Params)                    \
  namespace cpu {                                            \
  void name(const Params& p);                                \
  }                                                          \
  namespace cuda {                                           \
  void name(const Params& p, const ::llmrec::CudaStream& s); \
  }                                                          \
  static_assert(true, "a kernel's twins: " #name)

}  // namespace llmrec

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

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;  // the same typedef as cuda_runtime_api.h

namespace llmrec {

class Allocator;

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

// The kernel variant chosen for a family through the environment variable
// LLMREC_KERNEL_<FAMILY> (upper case, e.g. LLMREC_KERNEL_GEMM=reference), or "" for the default.
// Launchers keep their simple reference kernels beside the fast ones (llm.c style); the GPU suite
// validates every variant against the CPU twin and then times them.
std::string kernel_variant(const char* family);

struct CudaStream {
  cudaStream_t stream = nullptr;
  int device = 0;
  KernelErrorRecord* errors = nullptr;  // device pointer
  Allocator* scratch = nullptr;         // stream-ordered: release right after the launches
  int multiprocessors = 0;
  int max_shared_memory_per_block = 0;  // opt-in maximum, bytes
};

}  // namespace llmrec

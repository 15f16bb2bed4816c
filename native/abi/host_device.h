// The one host/device marker for code that both twins compile: a kernel header's inline math
// is __host__ __device__ under nvcc and a plain inline function in the C++ build.
#pragma once

#ifdef __CUDACC__
#define LLMREC_HD __host__ __device__ __forceinline__
#else
#define LLMREC_HD inline
#endif

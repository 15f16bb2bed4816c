// Run-time choice of the vector ISA for the CPU twins. The library is built for x86-64-v3 (AVX2,
// FMA); the hottest loops are compiled a second time for AVX-512 (x86-64-v4) and take that path
// only where the CPU reports it. LLMREC_CPU_ISA=avx2 forces the baseline (for comparisons and
// tests); asking for avx512 on a CPU without it keeps the baseline.
#pragma once

namespace llmrec::cpu {

enum class Isa { Avx2, Avx512 };

// The ISA the kernels use in this process (decided once, from the CPU and LLMREC_CPU_ISA).
Isa vector_isa();

// Whether the CPU can run the AVX-512 path (avx512f, avx512bw, avx512dq, avx512vl), whatever
// LLMREC_CPU_ISA says.
bool cpu_has_avx512();

const char* isa_name(Isa isa);

}  // namespace llmrec::cpu

// Marks a function to be compiled for AVX-512 (x86-64-v4, 512-bit vectors preferred). Inline
// helpers written for the baseline inline into it. Empty off x86-64, where there is one path.
#if defined(__x86_64__) && defined(__GNUC__)
#define LLMREC_AVX512_TARGET __attribute__((target("arch=x86-64-v4,prefer-vector-width=512")))
#define LLMREC_HAVE_AVX512_PATH 1
#else
#define LLMREC_AVX512_TARGET
#define LLMREC_HAVE_AVX512_PATH 0
#endif

// For the lambda given to run_for_isa, and the helpers its loops call: inlining them into the
// ISA-specific caller is what compiles their loops for that ISA.
#define LLMREC_ISA_INLINE __attribute__((always_inline))

namespace llmrec::cpu {

template <class F>
LLMREC_AVX512_TARGET void run_avx512(const F& f) {
  f();
}
template <class F>
void run_baseline(const F& f) {
  f();
}

// Runs f() compiled for the chosen ISA: f must be a lambda marked LLMREC_ISA_INLINE.
template <class F>
void run_for_isa(const F& f) {
  if (vector_isa() == Isa::Avx512)
    run_avx512(f);
  else
    run_baseline(f);
}

}  // namespace llmrec::cpu

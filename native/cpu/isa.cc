#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace llmrec::cpu {

bool cpu_has_avx512() {
#if LLMREC_HAVE_AVX512_PATH
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

Isa vector_isa() {
  static const Isa chosen = [] {
    const char* request = std::getenv("LLMREC_CPU_ISA");
    const bool force_baseline = request && std::strcmp(request, "avx2") == 0;
    return !force_baseline && cpu_has_avx512() ? Isa::Avx512 : Isa::Avx2;
  }();
  return chosen;
}

const char* isa_name(Isa isa) { return isa == Isa::Avx512 ? "avx512" : "avx2"; }

}  // namespace llmrec::cpu

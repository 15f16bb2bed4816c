// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator, so any element's random bits
// come from (seed, counter) alone. That is what lets CPU and CUDA draw identical dropout masks
// and samples without sharing state. Usable from host and device code.
#pragma once

#include <cstdint>

#include "../abi/host_device.h"

namespace llmrec::philox {

struct Bits4 {
  uint32_t x, y, z, w;
};

LLMREC_HD void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t product = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(product >> 32);
  *lo = uint32_t(product);
}

// Four 32-bit words for counter `counter` under key `seed`.
LLMREC_HD Bits4 generate(uint64_t seed, uint64_t counter) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Bits4{c0, c1, c2, c3};
}

LLMREC_HD uint32_t lane(const Bits4& bits, int i) {
  return i == 0 ? bits.x : i == 1 ? bits.y : i == 2 ? bits.z : bits.w;
}

// Uniform in [0, 1) with 24 random bits: exact in f32, so both backends agree bit for bit.
LLMREC_HD float uniform01(uint32_t bits) { return float(bits >> 8) * 5.9604644775390625e-8f; }

// Uniform in (0, 1], for logarithms.
LLMREC_HD float uniform01_open_low(uint32_t bits) { return float((bits >> 8) + 1u) * 5.9604644775390625e-8f; }

}  // namespace llmrec::philox

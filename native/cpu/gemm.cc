// CPU twin of cuda/gemm.cu: a GotoBLAS-style f32 GEMM.
//
// The output is cut into fixed MC x NC tiles (per batch problem), and tiles are the unit of
// threading, so every element's K sum runs in the same order whatever the thread count. Inside a
// tile, K advances in KC panels: the KC x NC panel of op(B) is packed into 16-wide column slivers
// and the MC x KC block of op(A) into 6-high row slivers (bf16 is widened here, transposes are
// undone here), and a 6x16 register-blocked micro-kernel accumulates into an f32 tile buffer.
// Slivers are zero-padded, so the micro-kernel never sees an edge. The epilogue (alpha, beta*C,
// bias, activation) runs once per tile after the last panel.
#include "../kernels/gemm.h"

#if defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using llmrec::cpu::bf16;
using llmrec::cpu::from_float;
using llmrec::cpu::parallel_for;
using llmrec::cpu::to_float;

namespace {

constexpr int64_t kMR = 6;    // rows of the micro-tile
constexpr int64_t kNR = 16;   // columns of the micro-tile: two 8-float vectors
constexpr int64_t kMC = 192;  // A block of 192 x 256 floats: 192 KiB, stays in L2
constexpr int64_t kNC = 256;  // the B sliver of 256 x 16 floats (16 KiB) stays in L1
constexpr int64_t kKC = 256;
constexpr int64_t kMaxBlocksPerTile = 4;

typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_unaligned __attribute__((vector_size(32), aligned(4)));

inline v8f load8(const float* p) { return *reinterpret_cast<const v8f_unaligned*>(p); }
inline void store8(float* p, v8f v) { *reinterpret_cast<v8f_unaligned*>(p) = v; }
// A true splat: `v8f{} + x` would cost an extra add per broadcast (x + 0 is not x for -0).
inline v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }

// An explicit FMA: ISO C++ builds (node-gyp's -std=c++17) do not contract a * b + c on their own.
inline v8f fma8(v8f a, v8f b, v8f c) {
#if defined(__FMA__)
  return reinterpret_cast<v8f>(
      _mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b), reinterpret_cast<__m256>(c)));
#else
  return a * b + c;
#endif
}

// acc[6 x 16] (row stride ld) = (accumulate ? acc : 0) + a_sliver^T * b_sliver over kc steps.
// 12 accumulators + 2 B vectors + 1 broadcast fit the 16 AVX registers.
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict acc,
                  int64_t ld, bool accumulate) {
  v8f c[kMR][2];
  for (int i = 0; i < kMR; ++i) {
    if (accumulate) {
      c[i][0] = load8(acc + i * ld);
      c[i][1] = load8(acc + i * ld + 8);
    } else {
      c[i][0] = v8f{};
      c[i][1] = v8f{};
    }
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const v8f b0 = load8(b), b1 = load8(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const v8f ai = splat8(a[i]);
      c[i][0] = fma8(ai, b0, c[i][0]);
      c[i][1] = fma8(ai, b1, c[i][1]);
    }
    a += kMR;
    b += kNR;
  }
  for (int i = 0; i < kMR; ++i) {
    store8(acc + i * ld, c[i][0]);
    store8(acc + i * ld + 8, c[i][1]);
  }
}

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] as 6-row slivers, each kc x 6 (k-major), zero-padded.
template <class T>
void pack_a(const GemmParams& p, const T* a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t s = 0; s < mc; s += kMR, dst += kc * kMR) {
    const int64_t rows = std::min(kMR, mc - s);
    if (!p.trans_a && rows == kMR) {
      // Six rows, eight k at a time: contiguous loads, then the 6 x 8 block written k-major in
      // one contiguous run instead of six strided passes.
      const T* src = a + (i0 + s) * p.lda + k0;
      int64_t q = 0;
      for (; q + 8 <= kc; q += 8) {
        float block[kMR][8];
        for (int64_t r = 0; r < kMR; ++r)
          for (int t = 0; t < 8; ++t) block[r][t] = to_float(src[r * p.lda + q + t]);
        float* out = dst + q * kMR;
        for (int t = 0; t < 8; ++t)
          for (int64_t r = 0; r < kMR; ++r) out[t * kMR + r] = block[r][t];
      }
      for (; q < kc; ++q)
        for (int64_t r = 0; r < kMR; ++r) dst[q * kMR + r] = to_float(src[r * p.lda + q]);
    } else if (!p.trans_a) {
      for (int64_t r = 0; r < kMR; ++r) {
        if (r < rows) {
          const T* src = a + (i0 + s + r) * p.lda + k0;
          for (int64_t q = 0; q < kc; ++q) dst[q * kMR + r] = to_float(src[q]);
        } else {
          for (int64_t q = 0; q < kc; ++q) dst[q * kMR + r] = 0.0f;
        }
      }
    } else {
      for (int64_t q = 0; q < kc; ++q) {
        const T* src = a + (k0 + q) * p.lda + i0 + s;
        for (int64_t r = 0; r < kMR; ++r) dst[q * kMR + r] = r < rows ? to_float(src[r]) : 0.0f;
      }
    }
  }
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] as 16-column slivers, each kc x 16 (k-major), zero-padded.
template <class T>
void pack_b(const GemmParams& p, const T* b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  for (int64_t s = 0; s < nc; s += kNR, dst += kc * kNR) {
    const int64_t cols = std::min(kNR, nc - s);
    if (!p.trans_b) {
      for (int64_t q = 0; q < kc; ++q) {
        const T* src = b + (k0 + q) * p.ldb + j0 + s;
        float* row = dst + q * kNR;
        if (cols == kNR) {
          for (int64_t c = 0; c < kNR; ++c) row[c] = to_float(src[c]);
        } else {
          for (int64_t c = 0; c < kNR; ++c) row[c] = c < cols ? to_float(src[c]) : 0.0f;
        }
      }
    } else {
      for (int64_t c = 0; c < kNR; ++c) {
        if (c < cols) {
          const T* src = b + (j0 + s + c) * p.ldb + k0;
          for (int64_t q = 0; q < kc; ++q) dst[q * kNR + c] = to_float(src[q]);
        } else {
          for (int64_t q = 0; q < kc; ++q) dst[q * kNR + c] = 0.0f;
        }
      }
    }
  }
}

template <Activation ACT, class C>
void epilogue(const GemmParams& p, const float* acc, int64_t ld, int64_t batch_index, int64_t i0, int64_t mc,
              int64_t j0, int64_t nc) {
  const int64_t base = batch_index * p.stride_c;
  const C* c_in = static_cast<const C*>(p.c);
  const C* bias = static_cast<const C*>(p.bias);
  C* out = static_cast<C*>(p.out);
  C* pre = static_cast<C*>(p.pre_activation);
  const float alpha = p.alpha, beta = p.beta;
  const bool read_c = beta != 0.0f;
  for (int64_t i = 0; i < mc; ++i) {
    const int64_t row = base + (i0 + i) * p.ldc + j0;
    const float* acc_row = acc + i * ld;
    for (int64_t j = 0; j < nc; ++j) {
      float v = alpha * acc_row[j];
      if (read_c) v += beta * to_float(c_in[row + j]);
      if (bias) v += to_float(bias[j0 + j]);
      if (pre) pre[row + j] = from_float<C>(v);
      out[row + j] = from_float<C>(activate<ACT>(v));
    }
  }
}

struct TileBuffers {
  std::vector<float> packed_a, packed_b, acc;
};

template <class T, class C, Activation ACT>
void gemm_typed(const GemmParams& p) {
  const int64_t m_blocks = (p.m + kMC - 1) / kMC;
  const int64_t n_tiles = (p.n + kNC - 1) / kNC;
  // A tile spans up to four A blocks that share one packed B panel, as long as that still leaves
  // about four tiles per thread. Tiling never changes the order of any element's K sum, so the
  // result is the same for every grouping and thread count.
  const int64_t group = std::clamp<int64_t>(p.batch * m_blocks * n_tiles / (4 * llmrec::cpu::num_threads()),
                                            1, kMaxBlocksPerTile);
  const int64_t m_tiles = (m_blocks + group - 1) / group;
  const int64_t tiles = p.batch * m_tiles * n_tiles;
  parallel_for(0, tiles, 1, [&p, m_tiles, n_tiles, group](int64_t lo, int64_t hi) {
    thread_local TileBuffers buffers;
    const int64_t kc_max = std::min<int64_t>(kKC, std::max<int64_t>(p.k, 1));
    buffers.packed_a.resize(size_t(kMC * kc_max));
    buffers.packed_b.resize(size_t(kNC * kc_max));
    buffers.acc.resize(size_t(kMaxBlocksPerTile * kMC * kNC));
    float* packed_a = buffers.packed_a.data();
    float* packed_b = buffers.packed_b.data();
    float* acc = buffers.acc.data();
    for (int64_t tile = lo; tile < hi; ++tile) {
      const int64_t batch_index = tile / (m_tiles * n_tiles);
      const int64_t within = tile % (m_tiles * n_tiles);
      const int64_t i0 = (within / n_tiles) * group * kMC, j0 = (within % n_tiles) * kNC;
      const int64_t rows = std::min(group * kMC, p.m - i0), nc = std::min(kNC, p.n - j0);
      const int64_t nc_pad = (nc + kNR - 1) / kNR * kNR;
      const int64_t ld = nc_pad;
      const T* a = static_cast<const T*>(p.a) + batch_index * p.stride_a;
      const T* b = static_cast<const T*>(p.b) + batch_index * p.stride_b;
      if (p.k == 0) std::fill(acc, acc + rows * ld, 0.0f);
      for (int64_t k0 = 0; k0 < p.k; k0 += kKC) {
        const int64_t kc = std::min(kKC, p.k - k0);
        pack_b<T>(p, b, k0, kc, j0, nc, packed_b);
        for (int64_t block = 0; block < rows; block += kMC) {
          const int64_t mc = std::min(kMC, rows - block);
          const int64_t mc_pad = (mc + kMR - 1) / kMR * kMR;
          pack_a<T>(p, a, i0 + block, mc, k0, kc, packed_a);
          float* acc_block = acc + block * ld;
          // The B sliver stays in L1 while the A slivers stream past it from L2.
          for (int64_t js = 0; js < nc_pad; js += kNR)
            for (int64_t is = 0; is < mc_pad; is += kMR)
              micro_kernel(kc, packed_a + is * kc, packed_b + js * kc, acc_block + is * ld + js, ld, k0 > 0);
        }
      }
      epilogue<ACT, C>(p, acc, ld, batch_index, i0, rows, j0, nc);
    }
  });
}

template <class T, class C>
void gemm_dispatch_activation(const GemmParams& p) {
  switch (p.activation) {
    case Activation::None: return gemm_typed<T, C, Activation::None>(p);
    case Activation::Relu: return gemm_typed<T, C, Activation::Relu>(p);
    case Activation::GeluErf: return gemm_typed<T, C, Activation::GeluErf>(p);
    case Activation::GeluTanh: return gemm_typed<T, C, Activation::GeluTanh>(p);
    case Activation::Silu: return gemm_typed<T, C, Activation::Silu>(p);
  }
}

template <class T>
void gemm_dispatch_c(const GemmParams& p) {
  if (p.c_dtype == DType::BF16)
    gemm_dispatch_activation<T, bf16>(p);
  else
    gemm_dispatch_activation<T, float>(p);
}

template <Activation ACT, class T>
void epilogue_backward_typed(const EpilogueBackwardParams& p) {
  const T* pre = static_cast<const T*>(p.pre_activation);
  const T* grad_out = static_cast<const T*>(p.grad_out);
  T* grad_in = static_cast<T*>(p.grad_in);
  parallel_for(0, p.numel, 1 << 14, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      grad_in[i] = from_float<T>(to_float(grad_out[i]) * activation_derivative<ACT>(to_float(pre[i])));
  });
}

template <class T>
void epilogue_backward_dispatch(const EpilogueBackwardParams& p) {
  switch (p.activation) {
    case Activation::None: return epilogue_backward_typed<Activation::None, T>(p);
    case Activation::Relu: return epilogue_backward_typed<Activation::Relu, T>(p);
    case Activation::GeluErf: return epilogue_backward_typed<Activation::GeluErf, T>(p);
    case Activation::GeluTanh: return epilogue_backward_typed<Activation::GeluTanh, T>(p);
    case Activation::Silu: return epilogue_backward_typed<Activation::Silu, T>(p);
  }
}

}  // namespace

void gemm(const GemmParams& p) {
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (p.ab_dtype == DType::BF16)
    gemm_dispatch_c<bf16>(p);
  else
    gemm_dispatch_c<float>(p);
}

void epilogue_backward(const EpilogueBackwardParams& p) {
  if (p.numel == 0) return;
  if (p.dtype == DType::BF16)
    epilogue_backward_dispatch<bf16>(p);
  else
    epilogue_backward_dispatch<float>(p);
}

}  // namespace llmrec::kernels::cpu

// Lets GCC if-convert the selects in fast_math and vectorise the epilogue loops that call it;
// results do not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/gemm.cu: a GotoBLAS-style f32 GEMM.
//
// The output is cut into fixed MC x NC tiles (per batch problem), and tiles are the unit of
// threading, so every element's K sum runs in the same order whatever the thread count. op(A) is
// packed into MR-high row slivers and op(B) into NR-wide column slivers, k-major and zero-padded
// (bf16 is widened and transposes are undone there), so the micro-kernel never sees an edge. Each
// operand is packed once per call, before the tiles run, when its packed copy fits a workspace
// budget; otherwise a tile packs the KC-deep panel it needs. Inside a tile K advances in KC
// panels and a register-blocked micro-kernel accumulates into an f32 tile buffer; after the last
// panel each micro-tile's epilogue (alpha, beta*C, bias, activation) runs while it is still in L1.
//
// Two micro-kernels: 6x16 for AVX2 (12 accumulators in the 16 ymm registers) and 12x32 for
// AVX-512 (24 of the 32 zmm registers), picked at run time (isa.h). Both run each element's K sum
// as the same chain of FMAs in the same order, so the two paths agree bit for bit as well.
#include "../kernels/gemm.h"

#include "../kernels/activation.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "isa.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kMC = 192;  // A block of 192 x 256 floats: 192 KiB, stays in L2
constexpr int64_t kNC = 256;  // a B sliver of 256 x NR floats (16 or 32 KiB) stays in L1
constexpr int64_t kKC = 256;
constexpr int64_t kMaxBlocksPerTile = 4;
// Packed copies of whole operands up to this size (floats, both together) are made once per call.
constexpr int64_t kWholePackBudget = int64_t(12) << 20;

// The micro-tile of each ISA: kMC and kNC are multiples of both.
template <Isa ISA>
struct Tile;
template <>
struct Tile<Isa::Avx2> {
  static constexpr int64_t MR = 6, NR = 16;
};
template <>
struct Tile<Isa::Avx512> {
  static constexpr int64_t MR = 12, NR = 32;
};

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
void micro_kernel_avx2(int64_t kc, const float* __restrict a, const float* __restrict b,
                       float* __restrict acc, int64_t ld, bool accumulate) {
  constexpr int64_t kMR = Tile<Isa::Avx2>::MR, kNR = Tile<Isa::Avx2>::NR;
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

#if LLMREC_HAVE_AVX512_PATH
// The same over a 12 x 32 tile: 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm
// registers; 24 FMAs per 14 loads, and the A sliver is prefetched a few steps ahead.
LLMREC_AVX512_TARGET void micro_kernel_avx512(int64_t kc, const float* __restrict a,
                                              const float* __restrict b, float* __restrict acc, int64_t ld,
                                              bool accumulate) {
  constexpr int64_t kMR = Tile<Isa::Avx512>::MR, kNR = Tile<Isa::Avx512>::NR;
  __m512 c[kMR][2];
  for (int i = 0; i < kMR; ++i) {
    if (accumulate) {
      c[i][0] = _mm512_loadu_ps(acc + i * ld);
      c[i][1] = _mm512_loadu_ps(acc + i * ld + 16);
    } else {
      c[i][0] = _mm512_setzero_ps();
      c[i][1] = _mm512_setzero_ps();
    }
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR), _MM_HINT_T0);
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
    }
    a += kMR;
    b += kNR;
  }
  for (int i = 0; i < kMR; ++i) {
    _mm512_storeu_ps(acc + i * ld, c[i][0]);
    _mm512_storeu_ps(acc + i * ld + 16, c[i][1]);
  }
}
#endif

template <Isa ISA>
inline void micro_kernel(int64_t kc, const float* a, const float* b, float* acc, int64_t ld,
                         bool accumulate) {
#if LLMREC_HAVE_AVX512_PATH
  if constexpr (ISA == Isa::Avx512) return micro_kernel_avx512(kc, a, b, acc, ld, accumulate);
#endif
  micro_kernel_avx2(kc, a, b, acc, ld, accumulate);
}

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] as kMR-row slivers, each kc x 6 (k-major), zero-padded.
template <int64_t kMR, class T>
void pack_a(const GemmParams& p, const T* a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t s = 0; s < mc; s += kMR, dst += kc * kMR) {
    const int64_t rows = std::min(kMR, mc - s);
    if (!p.trans_a && rows == kMR) {
      // All rows, eight k at a time: contiguous loads, then the 6 x 8 block written k-major in
      // one contiguous run instead of kMR strided passes.
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

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] as kNR-column slivers, each kc x 16 (k-major), zero-padded.
template <int64_t kNR, class T>
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

// The GEMM activations as the elementwise kernels compute them on the host (activation_math:
// fast_math's vectorisable erf and exp), so a fused epilogue and a separate activation agree.
// The CUDA twin keeps activate<> from gemm.h (CUDA's erff/expf/tanhf); both are within the
// design's f32 tolerance of float64.
template <Activation ACT>
constexpr ActivationOp elementwise_op() {
  if constexpr (ACT == Activation::GeluErf) return ActivationOp::GeluErf;
  if constexpr (ACT == Activation::GeluTanh) return ActivationOp::GeluTanh;
  if constexpr (ACT == Activation::Silu) return ActivationOp::Silu;
  return ActivationOp::Relu;
}

template <Activation ACT>
inline LLMREC_ISA_INLINE float host_activate(float x) {
  if constexpr (ACT == Activation::None)
    return x;
  else
    return activation_math::forward<elementwise_op<ACT>()>(x, 0.0f);
}

template <Activation ACT>
inline LLMREC_ISA_INLINE float host_derivative(float x) {
  if constexpr (ACT == Activation::None)
    return 1.0f;
  else
    return activation_math::derivative<elementwise_op<ACT>()>(x, 0.0f);
}

// One micro-tile's epilogue (at most 32 columns): alpha, beta*C and bias into a row buffer, then
// the activation over the row in one branch-free loop, which GCC vectorises.
template <Activation ACT, class C>
inline LLMREC_ISA_INLINE void epilogue_body(const GemmParams& p, const float* acc, int64_t ld,
                                            int64_t batch_index, int64_t i0, int64_t mc, int64_t j0,
                                            int64_t nc) {
  const int64_t base = batch_index * p.stride_c;
  const C* c_in = static_cast<const C*>(p.c);
  const C* bias = static_cast<const C*>(p.bias);
  C* out = static_cast<C*>(p.out);
  C* pre = static_cast<C*>(p.pre_activation);
  const float alpha = p.alpha, beta = p.beta;
  const bool read_c = beta != 0.0f;
  constexpr int64_t kMaxCols = 32;
  float bias_row[kMaxCols];
  for (int64_t j = 0; j < nc; ++j) bias_row[j] = bias ? to_float(bias[j0 + j]) : 0.0f;
  for (int64_t i = 0; i < mc; ++i) {
    const int64_t row = base + (i0 + i) * p.ldc + j0;
    const float* acc_row = acc + i * ld;
    float v[kMaxCols];
    for (int64_t j = 0; j < nc; ++j) v[j] = alpha * acc_row[j];
    if (read_c)
      for (int64_t j = 0; j < nc; ++j) v[j] += beta * to_float(c_in[row + j]);
    if (bias)
      for (int64_t j = 0; j < nc; ++j) v[j] += bias_row[j];
    if (pre)
      for (int64_t j = 0; j < nc; ++j) pre[row + j] = from_float<C>(v[j]);
    for (int64_t j = 0; j < nc; ++j) out[row + j] = from_float<C>(host_activate<ACT>(v[j]));
  }
}

#if LLMREC_HAVE_AVX512_PATH
template <Activation ACT, class C>
LLMREC_AVX512_TARGET void epilogue_avx512(const GemmParams& p, const float* acc, int64_t ld,
                                          int64_t batch_index, int64_t i0, int64_t mc, int64_t j0,
                                          int64_t nc) {
  epilogue_body<ACT, C>(p, acc, ld, batch_index, i0, mc, j0, nc);
}
#endif

// Called per micro-tile (nc <= NR) and, for k == 0, per tile row block (split below).
template <Activation ACT, class C, Isa ISA>
void epilogue(const GemmParams& p, const float* acc, int64_t ld, int64_t batch_index, int64_t i0, int64_t mc,
              int64_t j0, int64_t nc) {
  for (int64_t js = 0; js < nc; js += 32) {
    const int64_t cols = std::min<int64_t>(32, nc - js);
#if LLMREC_HAVE_AVX512_PATH
    if constexpr (ISA == Isa::Avx512) {
      epilogue_avx512<ACT, C>(p, acc + js, ld, batch_index, i0, mc, j0 + js, cols);
      continue;
    }
#endif
    epilogue_body<ACT, C>(p, acc + js, ld, batch_index, i0, mc, j0 + js, cols);
  }
}

struct Workspace {
  std::vector<float> whole_a, whole_b, panel_a, panel_b, acc;
};

// Where a tile finds its packed slivers: the whole operand packed once (sliver stride K x R, any
// panel), or the one panel the tile packed itself.
struct Slivers {
  const float* data = nullptr;
  int64_t sliver_stride = 0;  // floats from one sliver to the next
  int64_t k_origin = 0;       // the k of the first packed step
  template <int64_t R>
  const float* at(int64_t sliver, int64_t k0) const {
    return data + sliver * sliver_stride + (k0 - k_origin) * R;
  }
};

template <class T, class C, Activation ACT, Isa ISA>
void gemm_typed(const GemmParams& p) {
  constexpr int64_t kMR = Tile<ISA>::MR, kNR = Tile<ISA>::NR;
  const int64_t m_blocks = (p.m + kMC - 1) / kMC;
  const int64_t n_tiles = (p.n + kNC - 1) / kNC;
  const int64_t m_slivers = (p.m + kMR - 1) / kMR, n_slivers = (p.n + kNR - 1) / kNR;
  const int64_t k = p.k;
  // Pack whole operands once when they fit the budget: B first (every row block reads it), then A
  // (every column tile reads it). Broadcast operands (stride 0) are packed for one problem.
  const int64_t a_problems = p.stride_a == 0 ? 1 : p.batch, b_problems = p.stride_b == 0 ? 1 : p.batch;
  const int64_t whole_b_size = b_problems * n_slivers * kNR * k,
                whole_a_size = a_problems * m_slivers * kMR * k;
  const bool whole_b = k > 0 && whole_b_size <= kWholePackBudget;
  const bool whole_a =
      k > 0 && n_tiles > 1 && whole_a_size + (whole_b ? whole_b_size : 0) <= kWholePackBudget;
  thread_local Workspace call_space;
  if (whole_b) call_space.whole_b.resize(size_t(whole_b_size));
  if (whole_a) call_space.whole_a.resize(size_t(whole_a_size));
  float* packed_whole_a = call_space.whole_a.data();
  float* packed_whole_b = call_space.whole_b.data();
  if (whole_b) {
    parallel_for(0, b_problems * n_slivers, 8, [&](int64_t lo, int64_t hi) {
      for (int64_t s = lo; s < hi; ++s) {
        const int64_t problem = s / n_slivers, j0 = (s % n_slivers) * kNR;
        pack_b<kNR, T>(p, static_cast<const T*>(p.b) + problem * p.stride_b, 0, k, j0,
                       std::min(kNR, p.n - j0), packed_whole_b + s * kNR * k);
      }
    });
  }
  if (whole_a) {
    parallel_for(0, a_problems * m_slivers, 8, [&](int64_t lo, int64_t hi) {
      for (int64_t s = lo; s < hi; ++s) {
        const int64_t problem = s / m_slivers, i0 = (s % m_slivers) * kMR;
        pack_a<kMR, T>(p, static_cast<const T*>(p.a) + problem * p.stride_a, i0, std::min(kMR, p.m - i0), 0,
                       k, packed_whole_a + s * kMR * k);
      }
    });
  }
  // A tile spans up to four A blocks that share one packed B panel, as long as that still leaves
  // about four tiles per thread (only worth it when B is packed per tile). Tiling never changes
  // the order of any element's K sum, so the result is the same for every grouping and thread count.
  const int64_t group =
      whole_b ? 1
              : std::clamp<int64_t>(p.batch * m_blocks * n_tiles / (4 * llmrec::cpu::num_threads()), 1,
                                    kMaxBlocksPerTile);
  const int64_t m_tiles = (m_blocks + group - 1) / group;
  const int64_t tiles = p.batch * m_tiles * n_tiles;
  parallel_for(0, tiles, 1, [&](int64_t lo, int64_t hi) {
    thread_local Workspace tile_space;
    const int64_t kc_max = std::min<int64_t>(kKC, std::max<int64_t>(k, 1));
    if (!whole_a) tile_space.panel_a.resize(size_t(kMC * kc_max));
    if (!whole_b) tile_space.panel_b.resize(size_t(kNC * kc_max));
    tile_space.acc.resize(size_t(kMaxBlocksPerTile * kMC * kNC));
    float* panel_a = tile_space.panel_a.data();
    float* panel_b = tile_space.panel_b.data();
    float* acc = tile_space.acc.data();
    for (int64_t tile = lo; tile < hi; ++tile) {
      const int64_t batch_index = tile / (m_tiles * n_tiles);
      const int64_t within = tile % (m_tiles * n_tiles);
      const int64_t i0 = (within / n_tiles) * group * kMC, j0 = (within % n_tiles) * kNC;
      const int64_t rows = std::min(group * kMC, p.m - i0), nc = std::min(kNC, p.n - j0);
      const int64_t nc_pad = (nc + kNR - 1) / kNR * kNR;
      const int64_t ld = nc_pad;
      const T* a = static_cast<const T*>(p.a) + batch_index * p.stride_a;
      const T* b = static_cast<const T*>(p.b) + batch_index * p.stride_b;
      // Sliver indices below count from the tile's first row and column.
      Slivers b_slivers, a_slivers;
      if (whole_b)
        b_slivers = {packed_whole_b + ((p.stride_b == 0 ? 0 : batch_index) * n_slivers + j0 / kNR) * kNR * k,
                     kNR * k, 0};
      if (k == 0) {
        std::fill(acc, acc + rows * ld, 0.0f);
        epilogue<ACT, C, ISA>(p, acc, ld, batch_index, i0, rows, j0, nc);
        continue;
      }
      for (int64_t k0 = 0; k0 < k; k0 += kKC) {
        const int64_t kc = std::min(kKC, k - k0);
        const bool last_panel = k0 + kc == k;
        if (!whole_b) {
          pack_b<kNR, T>(p, b, k0, kc, j0, nc, panel_b);
          b_slivers = {panel_b, kNR * kc, k0};
        }
        for (int64_t block = 0; block < rows; block += kMC) {
          const int64_t mc = std::min(kMC, rows - block);
          const int64_t mc_pad = (mc + kMR - 1) / kMR * kMR;
          if (whole_a) {
            a_slivers = {packed_whole_a +
                             ((p.stride_a == 0 ? 0 : batch_index) * m_slivers + (i0 + block) / kMR) * kMR * k,
                         kMR * k, 0};
          } else {
            pack_a<kMR, T>(p, a, i0 + block, mc, k0, kc, panel_a);
            a_slivers = {panel_a, kMR * kc, k0};
          }
          float* acc_block = acc + block * ld;
          // The B sliver stays in L1 while the A slivers stream past it from L2; after the last
          // panel each micro-tile gets its epilogue at once, while it is in L1.
          for (int64_t js = 0; js < nc_pad; js += kNR)
            for (int64_t is = 0; is < mc_pad; is += kMR) {
              float* tile_acc = acc_block + is * ld + js;
              micro_kernel<ISA>(kc, a_slivers.at<kMR>(is / kMR, k0), b_slivers.at<kNR>(js / kNR, k0),
                                tile_acc, ld, k0 > 0);
              if (last_panel)
                epilogue<ACT, C, ISA>(p, tile_acc, ld, batch_index, i0 + block + is, std::min(kMR, mc - is),
                                      j0 + js, std::min(kNR, nc - js));
            }
        }
      }
    }
  });
  // Keep a large whole-operand workspace only while calls keep needing it.
  if (!whole_a) std::vector<float>().swap(call_space.whole_a);
  if (!whole_b) std::vector<float>().swap(call_space.whole_b);
}

template <class T, class C, Activation ACT>
void gemm_dispatch_isa(const GemmParams& p) {
  if (llmrec::cpu::vector_isa() == Isa::Avx512)
    gemm_typed<T, C, ACT, Isa::Avx512>(p);
  else
    gemm_typed<T, C, ACT, Isa::Avx2>(p);
}

template <class T, class C>
void gemm_dispatch_activation(const GemmParams& p) {
  switch (p.activation) {
    case Activation::None: return gemm_dispatch_isa<T, C, Activation::None>(p);
    case Activation::Relu: return gemm_dispatch_isa<T, C, Activation::Relu>(p);
    case Activation::GeluErf: return gemm_dispatch_isa<T, C, Activation::GeluErf>(p);
    case Activation::GeluTanh: return gemm_dispatch_isa<T, C, Activation::GeluTanh>(p);
    case Activation::Silu: return gemm_dispatch_isa<T, C, Activation::Silu>(p);
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
inline LLMREC_ISA_INLINE void epilogue_backward_span(const T* __restrict pre, const T* __restrict grad_out,
                                                     T* __restrict grad_in, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    grad_in[i] = from_float<T>(to_float(grad_out[i]) * host_derivative<ACT>(to_float(pre[i])));
}

template <Activation ACT, class T>
void epilogue_backward_typed(const EpilogueBackwardParams& p) {
  const T* pre = static_cast<const T*>(p.pre_activation);
  const T* grad_out = static_cast<const T*>(p.grad_out);
  T* grad_in = static_cast<T*>(p.grad_in);
  parallel_for(0, p.numel, 1 << 14, [=](int64_t lo, int64_t hi) {
    llmrec::cpu::run_for_isa([=]() LLMREC_ISA_INLINE {
      epilogue_backward_span<ACT, T>(pre + lo, grad_out + lo, grad_in + lo, hi - lo);
    });
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

// The pieces the GEMM kernels share (cuda/gemm.cu's reference, simt and tensor kernels, and
// cuda/gemm_tail.cu's kernel for any leading dimension): where operands and outputs live, the
// fused epilogue, the bf16 mma.sync/ldmatrix/cp.async wrappers, the tensor-core tile shapes, and
// one warp's mma work on a shared-memory stage.
#pragma once

#include "../native/kernels/gemm.h"
#include "common.cuh"

namespace llmrec::kernels::cuda::gemm_tile {
using namespace llmrec::cuda_common;

// Where each operand and output element lives; shared by every kernel.
struct GemmLayout {
  int64_t m, n, k, batch;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
  bool trans_a, trans_b;
  float alpha, beta;
};

inline GemmLayout layout_of(const GemmParams& p) {
  return GemmLayout{p.m,        p.n,        p.k,        p.batch,   p.lda,     p.ldb,   p.ldc,
                    p.stride_a, p.stride_b, p.stride_c, p.trans_a, p.trans_b, p.alpha, p.beta};
}

template <class C>
struct Epilogue {
  const C* c;
  const C* bias;
  C* out;
  C* pre_activation;
};

template <class C>
Epilogue<C> epilogue_of(const GemmParams& p) {
  return Epilogue<C>{static_cast<const C*>(p.c), static_cast<const C*>(p.bias), static_cast<C*>(p.out),
                     static_cast<C*>(p.pre_activation)};
}

template <Activation ACT, class C>
__device__ __forceinline__ void store_output(const Epilogue<C>& e, const GemmLayout& g, int64_t batch_index,
                                             int64_t i, int64_t j, float acc) {
  const int64_t at = batch_index * g.stride_c + i * g.ldc + j;
  float v = g.alpha * acc;
  if (g.beta != 0.0f) v += g.beta * to_float(e.c[at]);
  if (e.bias) v += to_float(e.bias[j]);
  if (e.pre_activation) e.pre_activation[at] = from_float<C>(v);
  e.out[at] = from_float<C>(activate<ACT>(v));
}

// Batches beyond the grid's y limit are walked by a stride loop.
constexpr int64_t kMaxGridY = 65535;

inline unsigned batch_grid(int64_t batch) {
  return unsigned(batch < 1 ? 1 : (batch > kMaxGridY ? kMaxGridY : batch));
}

// ---------------------------------------------------------------------------------------------
// PTX wrappers: cp.async, ldmatrix and bf16 mma.sync.m16n8k16 with f32 accumulators.

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ void mma_bf16_16x8x16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                 uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---------------------------------------------------------------------------------------------
// Tensor-core tiles. Shared-memory tiles keep each operand's stored orientation (so global reads
// walk the contiguous axis), rows padded by 8 bf16 (16 bytes), which spreads the eight row
// addresses of an ldmatrix phase over distinct banks.

template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int STAGES_>
struct TensorConfig {
  static constexpr int BM = BM_, BN = BN_, BK = 32, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, STAGES = STAGES_;
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kWarpM = BM / WARPS_M, kWarpN = BN / WARPS_N;
  static constexpr int kFragsM = kWarpM / 16, kFragsN = kWarpN / 8;
  static constexpr int kPad = 8;
  // Elements of one stage of each operand, in its stored orientation.
  template <bool TRANS_A>
  static constexpr int a_stage() {
    return TRANS_A ? BK * (BM + kPad) : BM * (BK + kPad);
  }
  template <bool TRANS_B>
  static constexpr int b_stage() {
    return TRANS_B ? BN * (BK + kPad) : BK * (BN + kPad);
  }
  template <bool TRANS_A, bool TRANS_B>
  static constexpr size_t shared_bytes() {
    return size_t(STAGES) * (a_stage<TRANS_A>() + b_stage<TRANS_B>()) * sizeof(bf16);
  }
  static_assert(kFragsN % 2 == 0, "B fragments are loaded two n8 tiles at a time");
};

// One warp's share of one BK-deep stage: acc[fm][fn] += A(warp rows) . B(warp columns), with the
// stage's tiles as, bs in shared memory (stored orientation, pitch + kPad).
template <class CFG, bool TRANS_A, bool TRANS_B>
__device__ __forceinline__ void mma_stage(float (&acc)[CFG::kFragsM][CFG::kFragsN][4], const bf16* as,
                                          const bf16* bs, int warp_m, int warp_n, int lane) {
  constexpr int BM = CFG::BM, BN = CFG::BN, BK = CFG::BK, PAD = CFG::kPad;
  const int q = lane / 8, r = lane % 8;  // which 8x8 matrix this lane addresses, and its row
#pragma unroll
  for (int kk = 0; kk < BK; kk += 16) {
    uint32_t a_frag[CFG::kFragsM][4];
#pragma unroll
    for (int fm = 0; fm < CFG::kFragsM; ++fm) {
      const int m_base = warp_m * CFG::kWarpM + fm * 16;
      if constexpr (!TRANS_A) {
        // Matrices: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15).
        const int row = m_base + r + (q % 2) * 8, col = kk + (q / 2) * 8;
        ldmatrix_x4(a_frag[fm], shared_address(as + row * (BK + PAD) + col));
      } else {
        // Stored [k][m]: the same four matrices, transposed on the way out.
        const int row = kk + r + (q / 2) * 8, col = m_base + (q % 2) * 8;
        ldmatrix_x4_trans(a_frag[fm], shared_address(as + row * (BM + PAD) + col));
      }
    }
#pragma unroll
    for (int fn = 0; fn < CFG::kFragsN; fn += 2) {
      const int n_base = warp_n * CFG::kWarpN + fn * 8;
      uint32_t b_frag[4];  // {b0, b1} of n-tile fn, then of n-tile fn + 1
      if constexpr (TRANS_B) {
        // Stored [n][k]: matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
        const int row = n_base + r + (q / 2) * 8, col = kk + (q % 2) * 8;
        ldmatrix_x4(b_frag, shared_address(bs + row * (BK + PAD) + col));
      } else {
        // Stored [k][n]: the same matrices, transposed on the way out.
        const int row = kk + r + (q % 2) * 8, col = n_base + (q / 2) * 8;
        ldmatrix_x4_trans(b_frag, shared_address(bs + row * (BN + PAD) + col));
      }
#pragma unroll
      for (int fm = 0; fm < CFG::kFragsM; ++fm) {
        mma_bf16_16x8x16(acc[fm][fn], a_frag[fm], b_frag[0], b_frag[1]);
        mma_bf16_16x8x16(acc[fm][fn + 1], a_frag[fm], b_frag[2], b_frag[3]);
      }
    }
  }
}

// Writes one warp's accumulators through the epilogue. Accumulator layout: c0, c1 at (row lane/4,
// cols 2*(lane%4) + {0,1}); c2, c3 eight rows down.
template <class CFG, Activation ACT, class C>
__device__ __forceinline__ void store_tile(const float (&acc)[CFG::kFragsM][CFG::kFragsN][4],
                                           const Epilogue<C>& e, const GemmLayout& g, int64_t batch_index,
                                           int64_t i0, int64_t j0, int warp_m, int warp_n, int lane) {
#pragma unroll
  for (int fm = 0; fm < CFG::kFragsM; ++fm) {
#pragma unroll
    for (int fn = 0; fn < CFG::kFragsN; ++fn) {
#pragma unroll
      for (int h = 0; h < 4; ++h) {
        const int64_t i = i0 + warp_m * CFG::kWarpM + fm * 16 + lane / 4 + (h / 2) * 8;
        const int64_t j = j0 + warp_n * CFG::kWarpN + fn * 8 + (lane % 4) * 2 + (h % 2);
        if (i < g.m && j < g.n) store_output<ACT>(e, g, batch_index, i, j, acc[fm][fn][h]);
      }
    }
  }
}

}  // namespace llmrec::kernels::cuda::gemm_tile

namespace llmrec::kernels::cuda {
// cuda/gemm_tail.cu: bf16 tensor cores on any leading dimension, offset or extent (register-staged
// loads that zero-fill outside the matrix). Returns false, launching nothing, for f32 operands.
bool gemm_tensor_tail(const GemmParams& p, const CudaStream& s);
}  // namespace llmrec::kernels::cuda

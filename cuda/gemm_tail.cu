// GEMM variant `tensor_unaligned`: bf16 tensor cores on any leading dimension, batch offset or
// extent. cuda/gemm.cu's tensor kernel copies 16-byte chunks with cp.async, so it needs every row
// start and stored row length to be a multiple of 8 bf16; a 3,706-item catalogue or a
// 50,257-token vocabulary used to drop to the SIMT kernel, about 30x slower. Here each thread
// loads its share of the next k-step into registers with plain predicated loads (zero outside
// the matrix, so no chunk can straddle an edge), the warps run mma.sync on the current step from
// shared memory meanwhile, and the registers go to the other shared buffer afterwards: a
// two-stage register-staged pipeline with one barrier per k-step. Loads move element pairs (one
// 4-byte load) where every row start and row length is even, and single elements otherwise.
//
// Work and traffic: 2*m*n*k FLOPs; at least 2*(m*k + k*n) bytes of operands plus m*n outputs.
// A 128x128 tile re-reads its operands from L2 at 2*128*128*32 FLOPs per 16 KiB, 64 FLOP/byte,
// so large problems are bound by the mma.sync bf16 rate (Hopper without wgmma: about 60% of the
// dense bf16 peak), the roofline this kernel aims at, within 20% of the aligned tensor kernel on
// the same shapes; it is timed beside the other variants by `npm run bench -- --variants`.
// Validated against the reference variant by test/kernel-variants.test.ts.
#include <algorithm>

#include "../native/kernels/gemm.h"
#include "common.cuh"
#include "gemm_tile.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;
using namespace gemm_tile;

namespace {

// Two shared buffers: the registers hold the third stage in flight.
using TailLarge = TensorConfig<128, 128, 2, 4, 2>;  // warp tile 64 x 32
using TailSmall = TensorConfig<64, 64, 2, 2, 2>;    // warp tile 32 x 32

// One thread's share of a ROWS x COLS (stored orientation) window, as bf16 pairs along the
// contiguous axis. A thread keeps one column pair cc = 2 * (threadIdx.x % (COLS / 2)) and walks
// rows r0, r0 + kRowStep, ... (r0 = threadIdx.x / (COLS / 2)); consecutive threads take
// consecutive pairs, so the global loads coalesce. One 64-bit pointer advanced by a fixed row
// step keeps the address arithmetic to a couple of registers.
template <int ROWS, int COLS, int THREADS>
struct StagedTile {
  static constexpr int kPairsPerRow = COLS / 2;
  static constexpr int kRowStep = THREADS / kPairsPerRow;
  static constexpr int kSlots = ROWS / kRowStep;
  static_assert(THREADS % kPairsPerRow == 0 && ROWS % kRowStep == 0,
                "the tile splits evenly over the threads");
  uint32_t held[kSlots];

  // paired: every pair lies inside one 4-byte aligned word of the matrix (even row starts and
  // extents), so it is one load; otherwise two 2-byte loads, each checked against the extent.
  __device__ __forceinline__ void load(const bf16* src, int64_t ld, int64_t row0, int64_t col0,
                                       int64_t extent_rows, int64_t extent_cols, bool paired) {
    const int r0 = threadIdx.x / kPairsPerRow, cc = (threadIdx.x % kPairsPerRow) * 2;
    const int64_t gc = col0 + cc;
    const bool lo_valid = gc < extent_cols, hi_valid = gc + 1 < extent_cols;
    int64_t gr = row0 + r0;
    const uint16_t* at = reinterpret_cast<const uint16_t*>(src) + gr * ld + gc;
    const int64_t step = int64_t(kRowStep) * ld;
#pragma unroll
    for (int i = 0; i < kSlots; ++i, gr += kRowStep, at += step) {
      uint32_t word = 0;
      if (gr < extent_rows) {
        if (paired) {
          if (lo_valid) word = *reinterpret_cast<const uint32_t*>(at);
        } else {
          const uint32_t lo = lo_valid ? at[0] : 0u;
          const uint32_t hi = hi_valid ? at[1] : 0u;
          word = lo | (hi << 16);  // the lower address is the lower half (little endian)
        }
      }
      held[i] = word;
    }
  }

  // Into a shared tile with row pitch COLS + PAD (a multiple of 8 bf16, so each pair is aligned).
  template <int PAD>
  __device__ __forceinline__ void store(bf16* dst) const {
    const int r0 = threadIdx.x / kPairsPerRow, cc = (threadIdx.x % kPairsPerRow) * 2;
    uint32_t* row = reinterpret_cast<uint32_t*>(dst + r0 * (COLS + PAD) + cc);
#pragma unroll
    for (int i = 0; i < kSlots; ++i) row[i * kRowStep * (COLS + PAD) / 2] = held[i];
  }
};

template <class CFG, class C>
__device__ __forceinline__ void store_tile_activation(Activation activation,
                                                      const float (&acc)[CFG::kFragsM][CFG::kFragsN][4],
                                                      const Epilogue<C>& e, const GemmLayout& g,
                                                      int64_t batch_index, int64_t i0, int64_t j0, int warp_m,
                                                      int warp_n, int lane) {
  switch (activation) {
    case Activation::None:
      return store_tile<CFG, Activation::None>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
    case Activation::Relu:
      return store_tile<CFG, Activation::Relu>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
    case Activation::GeluErf:
      return store_tile<CFG, Activation::GeluErf>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
    case Activation::GeluTanh:
      return store_tile<CFG, Activation::GeluTanh>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
    case Activation::Silu:
      return store_tile<CFG, Activation::Silu>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
  }
}

// The activation is a run-time argument (a uniform branch in the epilogue only), which keeps this
// variant at 16 instantiations instead of 80.
template <class CFG, bool TRANS_A, bool TRANS_B, class C>
__global__ void __launch_bounds__(CFG::kThreads)
    gemm_tensor_tail_kernel(const bf16* __restrict__ a, const bf16* __restrict__ b, Epilogue<C> e,
                            GemmLayout g, Activation activation, int64_t n_tiles, bool a_paired,
                            bool b_paired) {
  constexpr int BM = CFG::BM, BN = CFG::BN, BK = CFG::BK, PAD = CFG::kPad, THREADS = CFG::kThreads;
  constexpr int A_STAGE = CFG::template a_stage<TRANS_A>(), B_STAGE = CFG::template b_stage<TRANS_B>();
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16* a_smem = reinterpret_cast<bf16*>(shared_raw);
  bf16* b_smem = a_smem + 2 * A_STAGE;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_m = warp / CFG::WARPS_N, warp_n = warp % CFG::WARPS_N;
  const int64_t i0 = (blockIdx.x / n_tiles) * BM, j0 = (blockIdx.x % n_tiles) * BN;
  const int64_t k_tiles = (g.k + BK - 1) / BK;
  // Stored extents: A is [m, k] or [k, m]; B is [k, n] or [n, k].
  const int64_t a_rows = TRANS_A ? g.k : g.m, a_cols = TRANS_A ? g.m : g.k;
  const int64_t b_rows = TRANS_B ? g.n : g.k, b_cols = TRANS_B ? g.k : g.n;

  StagedTile<TRANS_A ? BK : BM, TRANS_A ? BM : BK, THREADS> a_regs;
  StagedTile<TRANS_B ? BN : BK, TRANS_B ? BK : BN, THREADS> b_regs;

  for (int64_t batch_index = blockIdx.y; batch_index < g.batch; batch_index += gridDim.y) {
    const bf16* ab = a + batch_index * g.stride_a;
    const bf16* bb = b + batch_index * g.stride_b;
    auto load_regs = [&](int64_t kt) {
      const int64_t k0 = kt * BK;
      if constexpr (TRANS_A)
        a_regs.load(ab, g.lda, k0, i0, a_rows, a_cols, a_paired);
      else
        a_regs.load(ab, g.lda, i0, k0, a_rows, a_cols, a_paired);
      if constexpr (TRANS_B)
        b_regs.load(bb, g.ldb, j0, k0, b_rows, b_cols, b_paired);
      else
        b_regs.load(bb, g.ldb, k0, j0, b_rows, b_cols, b_paired);
    };
    auto store_regs = [&](int stage) {
      a_regs.template store<PAD>(a_smem + stage * A_STAGE);
      b_regs.template store<PAD>(b_smem + stage * B_STAGE);
    };

    float acc[CFG::kFragsM][CFG::kFragsN][4] = {};
    // Every read of the previous batch's last stage ended at that loop's final barrier.
    if (k_tiles > 0) {
      load_regs(0);
      store_regs(0);
    }
    __syncthreads();
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const bool more = kt + 1 < k_tiles;
      if (more) load_regs(kt + 1);  // in flight while the warps multiply stage kt
      const int stage = int(kt % 2);
      mma_stage<CFG, TRANS_A, TRANS_B>(acc, a_smem + stage * A_STAGE, b_smem + stage * B_STAGE, warp_m,
                                       warp_n, lane);
      // The other buffer was last read in step kt - 1, before that step's closing barrier.
      if (more) store_regs(1 - stage);
      __syncthreads();
    }
    store_tile_activation<CFG>(activation, acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
  }
}

template <class CFG, bool TRANS_A, bool TRANS_B, class C>
void launch_tail(const GemmParams& p, bool a_paired, bool b_paired, const CudaStream& s) {
  auto kernel = gemm_tensor_tail_kernel<CFG, TRANS_A, TRANS_B, C>;
  constexpr size_t bytes = CFG::template shared_bytes<TRANS_A, TRANS_B>();
  static_assert(bytes <= 48 * 1024, "two stages fit the default dynamic shared memory");
  const int64_t m_tiles = (p.m + CFG::BM - 1) / CFG::BM, n_tiles = (p.n + CFG::BN - 1) / CFG::BN;
  kernel<<<dim3(unsigned(m_tiles * n_tiles), batch_grid(p.batch)), CFG::kThreads, bytes, s.stream>>>(
      static_cast<const bf16*>(p.a), static_cast<const bf16*>(p.b), epilogue_of<C>(p), layout_of(p),
      p.activation, n_tiles, a_paired, b_paired);
}

template <class CFG, class C>
void launch_tail_transposes(const GemmParams& p, bool a_paired, bool b_paired, const CudaStream& s) {
  if (!p.trans_a && !p.trans_b) return launch_tail<CFG, false, false, C>(p, a_paired, b_paired, s);
  if (p.trans_a && !p.trans_b) return launch_tail<CFG, true, false, C>(p, a_paired, b_paired, s);
  if (!p.trans_a && p.trans_b) return launch_tail<CFG, false, true, C>(p, a_paired, b_paired, s);
  return launch_tail<CFG, true, true, C>(p, a_paired, b_paired, s);
}

// Pairs stay inside one aligned 4-byte word when the base, the row and batch strides and the
// stored row length are all even (in bf16).
bool pairs_aligned(const void* base, int64_t ld, int64_t stride, int64_t row_length) {
  return reinterpret_cast<uintptr_t>(base) % 4 == 0 && ld % 2 == 0 && stride % 2 == 0 && row_length % 2 == 0;
}

template <class C>
void tail_dispatch(const GemmParams& p, const CudaStream& s) {
  const bool a_paired = pairs_aligned(p.a, p.lda, p.stride_a, p.trans_a ? p.m : p.k);
  const bool b_paired = pairs_aligned(p.b, p.ldb, p.stride_b, p.trans_b ? p.k : p.n);
  // Large tiles when they still give every SM at least one block; small ones otherwise.
  const int64_t large_blocks = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
  const int sms = s.multiprocessors > 0 ? s.multiprocessors : 108;
  if (large_blocks >= sms)
    launch_tail_transposes<TailLarge, C>(p, a_paired, b_paired, s);
  else
    launch_tail_transposes<TailSmall, C>(p, a_paired, b_paired, s);
}

}  // namespace

bool gemm_tensor_tail(const GemmParams& p, const CudaStream& s) {
  if (p.ab_dtype != DType::BF16) return false;
  if (p.c_dtype == DType::BF16)
    tail_dispatch<bf16>(p, s);
  else
    tail_dispatch<float>(p, s);
  return true;
}

}  // namespace llmrec::kernels::cuda

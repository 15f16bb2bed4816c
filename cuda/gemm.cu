// CUDA twin of native/cpu/gemm.cc.
//
// Four kernels, from simple to fast, all with the same epilogue (cuda/gemm_tile.cuh):
//   reference  one thread per output element; the validation baseline.
//   simt       64x64 shared-memory tiles, 4x4 outputs per thread, f32 FMAs. The path for f32
//              inputs: it keeps f32 precision (tf32 would not meet the f32 test tolerance), and
//              the fallback for bf16 operands when the tensor variant is forced on rows that are
//              not 16-byte aligned.
//   tensor     bf16 mma.sync.m16n8k16 with f32 accumulators; tiles stream through a multi-stage
//              cp.async pipeline in shared memory and reach registers with ldmatrix. Two tile
//              configurations: 128x128x32 with 8 warps for large problems, 64x64x32 with 4 warps
//              when the large tiles would leave SMs idle.
//   tensor_unaligned  (cuda/gemm_tail.cu) the same mma tiles fed by register-staged loads that take
//              any leading dimension, offset and extent (3,706 items, a 50,257-token vocabulary);
//              the default for bf16 operands the tensor kernel's alignment rules exclude.
// LLMREC_KERNEL_GEMM=reference|simt|tensor|tensor_unaligned forces one (tensor falls back to simt
// where its alignment rules do not hold; tensor_unaligned runs on any bf16 operands). Every kernel
// sums K in a fixed order: results are deterministic.
#include <algorithm>
#include <string>
#include <type_traits>

#include "../native/kernels/gemm.h"
#include "common.cuh"
#include "gemm_tile.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;
using namespace gemm_tile;

namespace {

// op(A)(i, q) and op(B)(q, j) of one problem, widened to f32.
template <class T>
__device__ __forceinline__ float load_a(const T* a, const GemmLayout& g, int64_t i, int64_t q) {
  return to_float(g.trans_a ? a[q * g.lda + i] : a[i * g.lda + q]);
}
template <class T>
__device__ __forceinline__ float load_b(const T* b, const GemmLayout& g, int64_t q, int64_t j) {
  return to_float(g.trans_b ? b[j * g.ldb + q] : b[q * g.ldb + j]);
}

// ---------------------------------------------------------------------------------------------
// Reference: one thread per output element.

template <Activation ACT, class T, class C>
__global__ void gemm_reference(const T* __restrict__ a, const T* __restrict__ b, Epilogue<C> e,
                               GemmLayout g) {
  const int64_t mn = g.m * g.n;
  for (int64_t batch_index = blockIdx.y; batch_index < g.batch; batch_index += gridDim.y) {
    const T* ab = a + batch_index * g.stride_a;
    const T* bb = b + batch_index * g.stride_b;
    for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < mn;
         idx += int64_t(gridDim.x) * blockDim.x) {
      const int64_t i = idx / g.n, j = idx % g.n;
      float acc = 0.0f;
      for (int64_t q = 0; q < g.k; ++q) acc = fmaf(load_a(ab, g, i, q), load_b(bb, g, q, j), acc);
      store_output<ACT>(e, g, batch_index, i, j, acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SIMT: a 64x64 output tile per block of 256 threads, 4x4 per thread, K in steps of 16.

constexpr int kSimtTile = 64, kSimtK = 16, kSimtThreads = 256;

template <Activation ACT, class T, class C>
__global__ void __launch_bounds__(kSimtThreads) gemm_simt(const T* __restrict__ a, const T* __restrict__ b,
                                                          Epilogue<C> e, GemmLayout g, int64_t n_tiles) {
  // k-major tiles, padded by four columns to spread the transposed stores over the banks.
  __shared__ float a_tile[kSimtK][kSimtTile + 4];
  __shared__ float b_tile[kSimtK][kSimtTile + 4];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;  // output columns tx*4.., rows ty*4..
  const int64_t i0 = (blockIdx.x / n_tiles) * kSimtTile, j0 = (blockIdx.x % n_tiles) * kSimtTile;
  for (int64_t batch_index = blockIdx.y; batch_index < g.batch; batch_index += gridDim.y) {
    const T* ab = a + batch_index * g.stride_a;
    const T* bb = b + batch_index * g.stride_b;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < g.k; k0 += kSimtK) {
      // 64 x 16 elements per operand, 4 per thread. Consecutive threads walk the operand's
      // contiguous axis, so global loads coalesce whichever way it is stored.
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int e_idx = tid + r * kSimtThreads;
        int row, q;  // row of op(A) (or column of op(B)) within the tile, and k within the step
        if (!g.trans_a) {
          row = e_idx / kSimtK, q = e_idx % kSimtK;
        } else {
          q = e_idx / kSimtTile, row = e_idx % kSimtTile;
        }
        const int64_t gi = i0 + row, gq = k0 + q;
        a_tile[q][row] = (gi < g.m && gq < g.k) ? load_a(ab, g, gi, gq) : 0.0f;
        int col;
        if (g.trans_b) {
          col = e_idx / kSimtK, q = e_idx % kSimtK;
        } else {
          q = e_idx / kSimtTile, col = e_idx % kSimtTile;
        }
        const int64_t gj = j0 + col, gq2 = k0 + q;
        b_tile[q][col] = (gj < g.n && gq2 < g.k) ? load_b(bb, g, gq2, gj) : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int q = 0; q < kSimtK; ++q) {
        float av[4], bv[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          av[r] = a_tile[q][ty * 4 + r];
          bv[r] = b_tile[q][tx * 4 + r];
        }
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t i = i0 + ty * 4 + r;
      if (i >= g.m) continue;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int64_t j = j0 + tx * 4 + c;
        if (j < g.n) store_output<ACT>(e, g, batch_index, i, j, acc[r][c]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor cores: bf16 mma.sync.m16n8k16, f32 accumulate.
//
// Shared-memory tiles keep each operand's stored orientation, so every global row segment is one
// 16-byte cp.async; ldmatrix (.trans where the stored orientation is the other one) turns them
// into mma fragments. Rows are padded by 8 bf16 (16 bytes), which spreads the eight row addresses
// of an ldmatrix phase over distinct banks. Edges are zero-filled by cp.async's src-size operand;
// a 16-byte chunk is never partly inside a matrix because the launcher requires the contiguous
// extents to be multiples of 8.

using LargeTiles = TensorConfig<128, 128, 2, 4, 3>;  // warp tile 64 x 32
using SmallTiles = TensorConfig<64, 64, 2, 2, 3>;    // warp tile 32 x 32

// Copies a rows x cols (stored orientation) window starting at (row0, col0) of a matrix with
// `extent_rows` x `extent_cols` valid elements and leading dimension ld into shared memory with
// row pitch cols + kPad.
template <int ROWS, int COLS, int THREADS, int PAD>
__device__ __forceinline__ void load_tile_async(bf16* dst, const bf16* src, int64_t ld, int64_t row0,
                                                int64_t col0, int64_t extent_rows, int64_t extent_cols) {
  constexpr int kChunksPerRow = COLS / 8;
  constexpr int kChunks = ROWS * kChunksPerRow;
#pragma unroll
  for (int c = threadIdx.x; c < kChunks; c += THREADS) {
    const int r = c / kChunksPerRow, cc = (c % kChunksPerRow) * 8;
    const int64_t gr = row0 + r, gc = col0 + cc;
    const bool valid = gr < extent_rows && gc < extent_cols;
    // An invalid chunk copies 0 bytes but still needs a mapped address: use the matrix's first.
    const bf16* from = valid ? src + gr * ld + gc : src;
    cp_async_16(shared_address(dst + r * (COLS + PAD) + cc), from, valid);
  }
}

template <class CFG, bool TRANS_A, bool TRANS_B, Activation ACT, class C>
__global__ void __launch_bounds__(CFG::kThreads)
    gemm_tensor(const bf16* __restrict__ a, const bf16* __restrict__ b, Epilogue<C> e, GemmLayout g,
                int64_t n_tiles) {
  constexpr int BM = CFG::BM, BN = CFG::BN, BK = CFG::BK, STAGES = CFG::STAGES, PAD = CFG::kPad;
  constexpr int A_STAGE = CFG::template a_stage<TRANS_A>(), B_STAGE = CFG::template b_stage<TRANS_B>();
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16* a_smem = reinterpret_cast<bf16*>(shared_raw);
  bf16* b_smem = a_smem + STAGES * A_STAGE;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_m = warp / CFG::WARPS_N, warp_n = warp % CFG::WARPS_N;
  const int64_t i0 = (blockIdx.x / n_tiles) * BM, j0 = (blockIdx.x % n_tiles) * BN;
  const int64_t k_tiles = (g.k + BK - 1) / BK;
  // Stored extents: A is [m, k] or [k, m]; B is [k, n] or [n, k].
  const int64_t a_rows = TRANS_A ? g.k : g.m, a_cols = TRANS_A ? g.m : g.k;
  const int64_t b_rows = TRANS_B ? g.n : g.k, b_cols = TRANS_B ? g.k : g.n;

  for (int64_t batch_index = blockIdx.y; batch_index < g.batch; batch_index += gridDim.y) {
    const bf16* ab = a + batch_index * g.stride_a;
    const bf16* bb = b + batch_index * g.stride_b;

    auto load_stage = [&](int stage, int64_t kt) {
      const int64_t k0 = kt * BK;
      bf16* as = a_smem + stage * A_STAGE;
      bf16* bs = b_smem + stage * B_STAGE;
      if constexpr (TRANS_A)
        load_tile_async<BK, BM, CFG::kThreads, PAD>(as, ab, g.lda, k0, i0, a_rows, a_cols);
      else
        load_tile_async<BM, BK, CFG::kThreads, PAD>(as, ab, g.lda, i0, k0, a_rows, a_cols);
      if constexpr (TRANS_B)
        load_tile_async<BN, BK, CFG::kThreads, PAD>(bs, bb, g.ldb, j0, k0, b_rows, b_cols);
      else
        load_tile_async<BK, BN, CFG::kThreads, PAD>(bs, bb, g.ldb, k0, j0, b_rows, b_cols);
    };

    float acc[CFG::kFragsM][CFG::kFragsN][4] = {};

    // The previous batch's last reads of shared memory must finish before the prologue refills it.
    __syncthreads();
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < k_tiles) load_stage(s, s);
      cp_async_commit();  // an empty group keeps the wait counts uniform
    }

    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      cp_async_wait<STAGES - 2>();  // stage kt has landed (for this thread's copies)
      __syncthreads();              // ... and for everyone's; stage kt-1 is free to refill
      const int64_t next = kt + STAGES - 1;
      if (next < k_tiles) load_stage(int(next % STAGES), next);
      cp_async_commit();

      const bf16* as = a_smem + int(kt % STAGES) * A_STAGE;
      const bf16* bs = b_smem + int(kt % STAGES) * B_STAGE;
      mma_stage<CFG, TRANS_A, TRANS_B>(acc, as, bs, warp_m, warp_n, lane);
    }
    cp_async_wait<0>();  // no copy may still target shared memory when the block moves on

    store_tile<CFG, ACT>(acc, e, g, batch_index, i0, j0, warp_m, warp_n, lane);
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers

template <class CFG, bool TRANS_A, bool TRANS_B, Activation ACT, class C>
void launch_tensor(const GemmParams& p, const Epilogue<C>& e, const CudaStream& s) {
  auto kernel = gemm_tensor<CFG, TRANS_A, TRANS_B, ACT, C>;
  constexpr size_t bytes = CFG::template shared_bytes<TRANS_A, TRANS_B>();
  // Above 48 KiB of dynamic shared memory a kernel must opt in; doing it every launch is cheap and
  // keeps it per device.
  if (bytes > 48 * 1024)
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
  const int64_t m_tiles = (p.m + CFG::BM - 1) / CFG::BM, n_tiles = (p.n + CFG::BN - 1) / CFG::BN;
  kernel<<<dim3(unsigned(m_tiles * n_tiles), batch_grid(p.batch)), CFG::kThreads, bytes, s.stream>>>(
      static_cast<const bf16*>(p.a), static_cast<const bf16*>(p.b), e, layout_of(p), n_tiles);
}

template <class CFG, Activation ACT, class C>
void launch_tensor_transposes(const GemmParams& p, const Epilogue<C>& e, const CudaStream& s) {
  if (!p.trans_a && !p.trans_b) return launch_tensor<CFG, false, false, ACT, C>(p, e, s);
  if (p.trans_a && !p.trans_b) return launch_tensor<CFG, true, false, ACT, C>(p, e, s);
  if (!p.trans_a && p.trans_b) return launch_tensor<CFG, false, true, ACT, C>(p, e, s);
  return launch_tensor<CFG, true, true, ACT, C>(p, e, s);
}

// cp.async moves 16 aligned bytes: every row start, batch offset and base pointer must be a
// multiple of 8 bf16, and so must each stored row's length (then no chunk straddles an edge).
bool tensor_core_eligible(const GemmParams& p) {
  if (p.ab_dtype != DType::BF16) return false;
  auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  const int64_t a_row = p.trans_a ? p.m : p.k, b_row = p.trans_b ? p.k : p.n;
  return aligned(p.a) && aligned(p.b) && p.lda % 8 == 0 && p.ldb % 8 == 0 && p.stride_a % 8 == 0 &&
         p.stride_b % 8 == 0 && a_row % 8 == 0 && b_row % 8 == 0 && p.k > 0;
}

template <Activation ACT, class T, class C>
void gemm_launch(const GemmParams& p, const CudaStream& s) {
  const Epilogue<C> e = epilogue_of<C>(p);
  const std::string variant = kernel_variant("gemm");
  if (variant == "reference") {
    constexpr int threads = 256;
    gemm_reference<ACT, T, C>
        <<<dim3(grid_for(p.m * p.n, threads, s), batch_grid(p.batch)), threads, 0, s.stream>>>(
            static_cast<const T*>(p.a), static_cast<const T*>(p.b), e, layout_of(p));
    return;
  }
  if constexpr (std::is_same_v<T, bf16>) {
    if (variant == "tensor_unaligned" && gemm_tensor_tail(p, s)) return;
    if (variant != "simt" && tensor_core_eligible(p)) {
      // Large tiles when they still give every SM at least one block; small ones otherwise.
      const int64_t large_blocks = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
      const int sms = s.multiprocessors > 0 ? s.multiprocessors : 108;
      if (large_blocks >= sms)
        launch_tensor_transposes<LargeTiles, ACT, C>(p, e, s);
      else
        launch_tensor_transposes<SmallTiles, ACT, C>(p, e, s);
      return;
    }
    // By default, what the cp.async path cannot take (a leading dimension, offset or extent that
    // is not a multiple of 8) still runs on tensor cores, with register-staged loads.
    if (variant.empty() && gemm_tensor_tail(p, s)) return;
  }
  const int64_t m_tiles = (p.m + kSimtTile - 1) / kSimtTile, n_tiles = (p.n + kSimtTile - 1) / kSimtTile;
  gemm_simt<ACT, T, C><<<dim3(unsigned(m_tiles * n_tiles), batch_grid(p.batch)), kSimtThreads, 0, s.stream>>>(
      static_cast<const T*>(p.a), static_cast<const T*>(p.b), e, layout_of(p), n_tiles);
}

template <class T, class C>
void gemm_dispatch_activation(const GemmParams& p, const CudaStream& s) {
  switch (p.activation) {
    case Activation::None: return gemm_launch<Activation::None, T, C>(p, s);
    case Activation::Relu: return gemm_launch<Activation::Relu, T, C>(p, s);
    case Activation::GeluErf: return gemm_launch<Activation::GeluErf, T, C>(p, s);
    case Activation::GeluTanh: return gemm_launch<Activation::GeluTanh, T, C>(p, s);
    case Activation::Silu: return gemm_launch<Activation::Silu, T, C>(p, s);
  }
}

template <class T>
void gemm_dispatch_c(const GemmParams& p, const CudaStream& s) {
  if (p.c_dtype == DType::BF16)
    gemm_dispatch_activation<T, bf16>(p, s);
  else
    gemm_dispatch_activation<T, float>(p, s);
}

template <Activation ACT, class T>
__global__ void epilogue_backward_kernel(const T* __restrict__ pre, const T* __restrict__ grad_out,
                                         T* __restrict__ grad_in, int64_t numel) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(gridDim.x) * blockDim.x)
    grad_in[i] = from_float<T>(to_float(grad_out[i]) * activation_derivative<ACT>(to_float(pre[i])));
}

template <Activation ACT, class T>
void epilogue_backward_launch(const EpilogueBackwardParams& p, const CudaStream& s) {
  constexpr int threads = 256;
  epilogue_backward_kernel<ACT, T><<<grid_for(p.numel, threads, s), threads, 0, s.stream>>>(
      static_cast<const T*>(p.pre_activation), static_cast<const T*>(p.grad_out), static_cast<T*>(p.grad_in),
      p.numel);
}

template <class T>
void epilogue_backward_dispatch(const EpilogueBackwardParams& p, const CudaStream& s) {
  switch (p.activation) {
    case Activation::None: return epilogue_backward_launch<Activation::None, T>(p, s);
    case Activation::Relu: return epilogue_backward_launch<Activation::Relu, T>(p, s);
    case Activation::GeluErf: return epilogue_backward_launch<Activation::GeluErf, T>(p, s);
    case Activation::GeluTanh: return epilogue_backward_launch<Activation::GeluTanh, T>(p, s);
    case Activation::Silu: return epilogue_backward_launch<Activation::Silu, T>(p, s);
  }
}

}  // namespace

void gemm(const GemmParams& p, const CudaStream& s) {
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (p.ab_dtype == DType::BF16)
    gemm_dispatch_c<bf16>(p, s);
  else
    gemm_dispatch_c<float>(p, s);
}

void epilogue_backward(const EpilogueBackwardParams& p, const CudaStream& s) {
  if (p.numel == 0) return;
  if (p.dtype == DType::BF16)
    epilogue_backward_dispatch<bf16>(p, s);
  else
    epilogue_backward_dispatch<float>(p, s);
}

}  // namespace llmrec::kernels::cuda

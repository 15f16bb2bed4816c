// The fused linear cross-entropy's GEMMs on tensor cores: variant `tensor` of the linear_ce
// family, for bf16 hidden and weight. cuda/loss.cu keeps the chunk loop, the online log-sum-exp
// (fold_chunk) and the in-place dz; only the three per-chunk products move from its f32 SIMT
// tile (scalar bf16 loads, the reference variant) to the bf16 mma.sync kernels of the gemm
// family (cuda/gemm.cu where rows are 16-byte aligned, cuda/gemm_tail.cu otherwise, e.g. the
// last chunk of a 50,257-token vocabulary), with f32 accumulation and f32 logits:
//   forward   logits[N, C] = hidden[N, d] . W[chunk]^T                       (f32 out)
//   backward  dz (f32, in place) -> dz16 (bf16, one chunk of scratch)
//             dHidden[N, d] += dz16 . W[chunk]                               (f32 accumulator)
//             dWeight[chunk] = dz16^T . hidden                               (bf16 out, once)
// Memory stays one chunk: the f32 logits plus, in the backward, their bf16 copy (N*C*6 bytes).
// dz is rounded to bf16 before the products (relative error 2^-9 per element), within the bf16
// tolerance the GPU suite holds the variant to.
//
// Work and traffic per call (N rows, V vocabulary, d width): forward 2*N*V*d FLOPs, backward
// 6*N*V*d (the logits are recomputed); bytes at least 2*(N*d + V*d) per pass over hidden and W
// plus N*V*4 of chunk logits written and read back once per pass. At N = 8192, d = 896 the GEMMs
// run at about 900 FLOP/byte of DRAM traffic, so the roofline is the mma.sync bf16 rate; the
// logits round trip through L2/DRAM and the exp pass are the overheads it aims to stay within
// (no slower than matmul + F.cross_entropy, bench/torch/loss.py).
#include "../native/kernels/gemm.h"
#include "linear_ce_tensor.cuh"

namespace llmrec::kernels::cuda {

namespace {

GemmParams bf16_product(DType out_dtype) {
  GemmParams g;
  g.ab_dtype = DType::BF16;
  g.c_dtype = out_dtype;
  return g;
}

}  // namespace

void linear_ce_logits_tensor(const void* hidden, const void* weight_chunk, float* logits, int64_t rows,
                             int64_t width, int64_t dim, const CudaStream& s) {
  GemmParams g = bf16_product(DType::F32);
  g.m = rows, g.n = width, g.k = dim;
  g.a = hidden, g.lda = dim;                          // [rows, dim]
  g.b = weight_chunk, g.ldb = dim, g.trans_b = true;  // stored [width, dim]
  g.out = logits, g.ldc = width;
  gemm(g, s);
}

void linear_ce_grads_tensor(const void* dz16, const void* hidden, const void* weight_chunk,
                            float* grad_hidden, void* grad_weight_chunk, int64_t rows, int64_t width,
                            int64_t dim, const CudaStream& s) {
  if (grad_hidden) {
    // dHidden[rows, dim] += dz16[rows, width] . W[chunk] (stored [width, dim]); c aliases out.
    GemmParams g = bf16_product(DType::F32);
    g.m = rows, g.n = dim, g.k = width;
    g.a = dz16, g.lda = width;
    g.b = weight_chunk, g.ldb = dim;
    g.c = grad_hidden, g.out = grad_hidden, g.ldc = dim, g.beta = 1.0f;
    gemm(g, s);
  }
  if (grad_weight_chunk) {
    // dWeight[chunk] (stored [width, dim]) = dz16^T . hidden: A is dz16 stored [rows, width].
    GemmParams g = bf16_product(DType::BF16);
    g.m = width, g.n = dim, g.k = rows;
    g.a = dz16, g.lda = width, g.trans_a = true;
    g.b = hidden, g.ldb = dim;
    g.out = grad_weight_chunk, g.ldc = dim;
    gemm(g, s);
  }
}

}  // namespace llmrec::kernels::cuda

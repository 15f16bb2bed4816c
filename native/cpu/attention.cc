// CPU twin of cuda/attention.cu.
//
// Forward and the dq pass are threaded over (batch, query head, block of 32 query rows); the
// dk/dv pass over (batch, kv head, block of 64 keys). Every output element is written by exactly
// one task and nothing is accumulated across threads, so results do not depend on the thread
// count. Inside a task the scores and the products with V, K, Q and dO are block products with
// a 4x16 register tile (GCC vector extensions), against f32 copies of the blocks zero-padded to
// the tile, so masked or padded lanes contribute exact zeros. When all keys fit in one block the
// dk/dv pass also writes dq, and the separate dq pass is skipped.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/attention.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kKeyBlock = 64;
// Register tile of the block products: 4 rows by 16 columns (two 8-float vectors per row).
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileCols = 16;

// GCC/Clang vector extension: 8 floats, loadable from any 4-byte-aligned address. It lowers to
// AVX registers under -march=x86-64-v3 and to SSE pairs elsewhere; the arithmetic is the same.
typedef float v8 __attribute__((vector_size(32), aligned(4)));

typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

inline int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// x[i] = exp(x[i]) for n a multiple of 8, eight lanes at a time (libm's expf does not
// vectorise). Cephes' expf: exp(x) = 2^k * p(r) with r = x - k ln 2, relative error near 1 ulp.
// Inputs clamp to [-87.3, 88]: callers zero masked lanes themselves, never relying on exp(-inf).
void exp_in_place(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    v8 v = *reinterpret_cast<const v8*>(x + i);
    v = v < -87.3f ? -87.3f : v;
    v = v > 88.0f ? 88.0f : v;
    // Adding 1.5 * 2^23 rounds to an integer k held in the low mantissa bits.
    const v8 shifted = v * 1.44269504088896341f + 12582912.0f;
    const v8 k = shifted - 12582912.0f;
    const v8 r = v - k * 0.693359375f - k * -2.12194440e-4f;
    v8 poly = r * 1.9875691500e-4f + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    poly = poly * r * r + r + 1.0f;
    // Vector casts reinterpret the bits (GCC and Clang semantics).
    const v8i exponent = ((v8i)shifted - 0x4B400000 + 127) << 23;
    *reinterpret_cast<v8*>(x + i) = poly * (v8)exponent;
  }
}

// Loads `count` rows of a [*, dim] matrix into a buffer of `padded_rows` rows of stride `ld`,
// zeroing the padding: padded lanes then contribute exact zeros to every product.
template <class T>
void load_rows(const T* src, int64_t count, int64_t dim, int64_t padded_rows, int64_t ld, float* dst) {
  for (int64_t r = 0; r < padded_rows; ++r) {
    float* row = dst + r * ld;
    if (r < count) {
      for (int64_t d = 0; d < dim; ++d) row[d] = to_float(src[r * dim + d]);
      for (int64_t d = dim; d < ld; ++d) row[d] = 0.0f;
    } else {
      for (int64_t d = 0; d < ld; ++d) row[d] = 0.0f;
    }
  }
}

// dst[d * ld + r] = src[r][d] for r < count, zero for count <= r < ld.
template <class T>
void load_transposed(const T* src, int64_t count, int64_t dim, int64_t ld, float* dst) {
  for (int64_t d = 0; d < dim; ++d)
    for (int64_t r = count; r < ld; ++r) dst[d * ld + r] = 0.0f;
  for (int64_t r = 0; r < count; ++r)
    for (int64_t d = 0; d < dim; ++d) dst[d * ld + r] = to_float(src[r * dim + d]);
}

// out[r][c] (+)= sum_k a[r][k] * b[k][c] for k < inner, b row-major with stride ldb: rows a
// multiple of kTileRows, cols of kTileCols. `accumulate` adds to out instead of overwriting it.
void block_matmul(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t inner, int64_t rows,
                  int64_t cols, float* out, int64_t ldo, bool accumulate) {
  for (int64_t r0 = 0; r0 < rows; r0 += kTileRows)
    for (int64_t c0 = 0; c0 < cols; c0 += kTileCols) {
      v8 acc[kTileRows][2] = {};
      if (accumulate)
        for (int64_t r = 0; r < kTileRows; ++r) {
          acc[r][0] = *reinterpret_cast<const v8*>(out + (r0 + r) * ldo + c0);
          acc[r][1] = *reinterpret_cast<const v8*>(out + (r0 + r) * ldo + c0 + 8);
        }
      for (int64_t k = 0; k < inner; ++k) {
        const v8 b0 = *reinterpret_cast<const v8*>(b + k * ldb + c0);
        const v8 b1 = *reinterpret_cast<const v8*>(b + k * ldb + c0 + 8);
        for (int64_t r = 0; r < kTileRows; ++r) {
          const float x = a[(r0 + r) * lda + k];
          acc[r][0] += x * b0;
          acc[r][1] += x * b1;
        }
      }
      for (int64_t r = 0; r < kTileRows; ++r) {
        *reinterpret_cast<v8*>(out + (r0 + r) * ldo + c0) = acc[r][0];
        *reinterpret_cast<v8*>(out + (r0 + r) * ldo + c0 + 8) = acc[r][1];
      }
    }
}

// out[r][c] = sum_d a[r][d] * bt[d][c] (bt: the other operand, transposed).
void matmul_transposed_b(const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t depth,
                         int64_t rows, int64_t cols, float* out, int64_t ldo) {
  block_matmul(a, lda, bt, ldb, depth, rows, cols, out, ldo, false);
}

// out[r][:] += sum_c p[r][c] * b[c][:].
void matmul_accumulate(const float* p, int64_t ldp, const float* b, int64_t ldb, int64_t inner, int64_t rows,
                       int64_t width, float* out, int64_t ldo) {
  block_matmul(p, ldp, b, ldb, inner, rows, width, out, ldo, true);
}

// The dropout factor of element `element`: 0 when dropped, 1 / (1 - p) when kept, 1 without dropout.
inline float dropout_factor(const AttentionShape& s, uint64_t element, float keep_scale) {
  if (s.dropout <= 0.0f) return 1.0f;
  return attention_keep(s, element) ? keep_scale : 0.0f;
}

// The probabilities of one padded row of scores: exp(score * scale - lse).
inline void probabilities_from_lse(float* scores, int64_t padded_cols, float scale, float lse) {
  for (int64_t c = 0; c < padded_cols; ++c) scores[c] = scores[c] * scale - lse;
  exp_in_place(scores, padded_cols);
}

// out[r, d] = block[r * Dp + d] * scale for `rows` rows of D dims (a block padded to Dp).
template <class T>
void store_rows(const float* block, int64_t rows, int64_t D, int64_t Dp, float scale, T* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < D; ++d) out[r * D + d] = from_float<T>(block[r * Dp + d] * scale);
}

// One task of the query-side passes (forward, dq): query block `task % query_blocks` of the pair
// (batch, head) `task / query_blocks`, the keys and values of its kv head, and the keys any of its
// rows sees (key ranges only grow with the row, so the last row's end bounds the block's).
template <class T>
struct QueryTask {
  int64_t bh, b, i0, rows, padded_rows, begin, end;
  const T* k;
  const T* v;

  QueryTask(const AttentionShape& s, const T* k_all, const T* v_all, int64_t task, int64_t query_blocks)
      : bh(task / query_blocks),
        b(bh / s.q_heads),
        i0(task % query_blocks * kQueryBlock),
        rows(std::min(kQueryBlock, s.q_len - i0)),
        padded_rows(round_up(rows, kTileRows)),
        begin(attention_key_range(s, b, i0).begin),
        end(attention_key_range(s, b, i0 + rows - 1).end),
        k(k_all + attention_kv_offset(s, bh)),
        v(v_all + attention_kv_offset(s, bh)) {}
};

template <class T>
void forward_typed(const AttentionForwardParams& p) {
  const AttentionShape& s = p.shape;
  const int64_t B = s.batch, Hq = s.q_heads, Lq = s.q_len, Lk = s.kv_len, D = s.head_dim;
  const int64_t Dp = round_up(D, kTileCols);
  const int64_t query_blocks = (Lq + kQueryBlock - 1) / kQueryBlock;
  const bool dropout = s.dropout > 0.0f;
  const float keep_scale = attention_keep_scale(s);
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  T* out_all = static_cast<T*>(p.out);

  parallel_for(0, B * Hq * query_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    std::vector<float> q(static_cast<size_t>(kQueryBlock * Dp)), acc(static_cast<size_t>(kQueryBlock * Dp));
    std::vector<float> kt(static_cast<size_t>(D * kKeyBlock)), vb(static_cast<size_t>(kKeyBlock * Dp));
    std::vector<float> probs(static_cast<size_t>(kQueryBlock * kKeyBlock));
    float row_max[kQueryBlock], row_sum[kQueryBlock];
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const QueryTask<T> t(s, k_all, v_all, task, query_blocks);
      const int64_t bh = t.bh, b = t.b, i0 = t.i0, rows = t.rows, padded_rows = t.padded_rows;
      const T *k = t.k, *v = t.v;
      load_rows(q_all + (bh * Lq + i0) * D, rows, D, padded_rows, Dp, q.data());
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(row_max, row_max + kQueryBlock, -INFINITY);
      std::fill(row_sum, row_sum + kQueryBlock, 0.0f);
      const int64_t begin = t.begin, end = t.end;
      for (int64_t j0 = begin; j0 < end; j0 += kKeyBlock) {
        const int64_t cols = std::min(kKeyBlock, end - j0), padded_cols = round_up(cols, kTileCols);
        load_transposed(k + j0 * D, cols, D, kKeyBlock, kt.data());
        load_rows(v + j0 * D, cols, D, padded_cols, Dp, vb.data());
        matmul_transposed_b(q.data(), Dp, kt.data(), kKeyBlock, D, padded_rows, padded_cols, probs.data(),
                            kKeyBlock);
        for (int64_t r = 0; r < padded_rows; ++r) {
          float* prob = &probs[static_cast<size_t>(r * kKeyBlock)];
          const int64_t n = r < rows ? std::min(attention_key_range(s, b, i0 + r).end - j0, cols) : 0;
          if (n <= 0) {
            for (int64_t c = 0; c < padded_cols; ++c) prob[c] = 0.0f;
            continue;
          }
          float block_max = -INFINITY;
          for (int64_t c = 0; c < n; ++c) {
            prob[c] *= s.scale;
            block_max = std::max(block_max, prob[c]);
          }
          const float new_max = std::max(row_max[r], block_max);
          const float correction = std::exp(row_max[r] - new_max);  // exp(-inf) = 0 on the first block
          row_max[r] = new_max;
          for (int64_t c = 0; c < padded_cols; ++c) prob[c] -= new_max;
          exp_in_place(prob, padded_cols);
          for (int64_t c = n; c < padded_cols; ++c) prob[c] = 0.0f;
          float sum = 0.0f;
          for (int64_t c = 0; c < n; ++c) sum += prob[c];
          row_sum[r] = row_sum[r] * correction + sum;
          if (correction != 1.0f) {
            float* a = &acc[static_cast<size_t>(r * Dp)];
            for (int64_t d = 0; d < Dp; ++d) a[d] *= correction;
          }
          if (dropout) {
            const uint64_t row_element = uint64_t((bh * Lq + i0 + r) * Lk + j0);
            for (int64_t c = 0; c < n; ++c)
              prob[c] *= dropout_factor(s, row_element + uint64_t(c), keep_scale);
          }
        }
        matmul_accumulate(probs.data(), kKeyBlock, vb.data(), Dp, padded_cols, padded_rows, Dp, acc.data(),
                          Dp);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = bh * Lq + i0 + r;
        const bool empty = row_sum[r] == 0.0f;
        store_rows(&acc[static_cast<size_t>(r * Dp)], 1, D, Dp, empty ? 0.0f : 1.0f / row_sum[r],
                   out_all + row * D);
        p.lse[row] = empty ? -INFINITY : row_max[r] + std::log(row_sum[r]);
      }
    }
  });
}

// delta[row] = sum_d grad_out[row, d] * out[row, d]: the FlashAttention-2 shortcut for
// sum_j P_ij dP_ij (it holds with dropout too, since out already carries the dropped weights).
template <class T>
void delta_typed(const AttentionBackwardParams& p) {
  const AttentionShape& s = p.shape;
  const int64_t rows = s.batch * s.q_heads * s.q_len, D = s.head_dim;
  const T* o = static_cast<const T*>(p.out);
  const T* go = static_cast<const T*>(p.grad_out);
  parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(D, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      float sum = 0.0f;
      for (int64_t d = 0; d < D; ++d) sum += to_float(o[row * D + d]) * to_float(go[row * D + d]);
      p.delta[row] = sum;
    }
  });
}

template <class T>
void grad_q_typed(const AttentionBackwardParams& p) {
  const AttentionShape& s = p.shape;
  const int64_t B = s.batch, Hq = s.q_heads, Lq = s.q_len, Lk = s.kv_len, D = s.head_dim;
  const int64_t Dp = round_up(D, kTileCols);
  const int64_t query_blocks = (Lq + kQueryBlock - 1) / kQueryBlock;
  const float keep_scale = attention_keep_scale(s);
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  const T* go_all = static_cast<const T*>(p.grad_out);
  T* dq_all = static_cast<T*>(p.grad_q);

  parallel_for(0, B * Hq * query_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    const size_t rows_size = static_cast<size_t>(kQueryBlock * Dp),
                 keys_size = static_cast<size_t>(kKeyBlock * Dp);
    std::vector<float> q(rows_size), go(rows_size), dq(rows_size), kb(keys_size);
    std::vector<float> kt(static_cast<size_t>(D * kKeyBlock)), vt(static_cast<size_t>(D * kKeyBlock));
    std::vector<float> scores(static_cast<size_t>(kQueryBlock * kKeyBlock)), dprob(scores.size());
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const QueryTask<T> t(s, k_all, v_all, task, query_blocks);
      const int64_t bh = t.bh, b = t.b, i0 = t.i0, rows = t.rows, padded_rows = t.padded_rows;
      const T *k = t.k, *v = t.v;
      load_rows(q_all + (bh * Lq + i0) * D, rows, D, padded_rows, Dp, q.data());
      load_rows(go_all + (bh * Lq + i0) * D, rows, D, padded_rows, Dp, go.data());
      std::fill(dq.begin(), dq.end(), 0.0f);
      const int64_t begin = t.begin, end = t.end;
      for (int64_t j0 = begin; j0 < end; j0 += kKeyBlock) {
        const int64_t cols = std::min(kKeyBlock, end - j0), padded_cols = round_up(cols, kTileCols);
        load_transposed(k + j0 * D, cols, D, kKeyBlock, kt.data());
        load_transposed(v + j0 * D, cols, D, kKeyBlock, vt.data());
        load_rows(k + j0 * D, cols, D, padded_cols, Dp, kb.data());
        matmul_transposed_b(q.data(), Dp, kt.data(), kKeyBlock, D, padded_rows, padded_cols, scores.data(),
                            kKeyBlock);
        matmul_transposed_b(go.data(), Dp, vt.data(), kKeyBlock, D, padded_rows, padded_cols, dprob.data(),
                            kKeyBlock);
        // scores become dS = P * (dP - delta), zero where masked.
        for (int64_t r = 0; r < padded_rows; ++r) {
          float* ds = &scores[static_cast<size_t>(r * kKeyBlock)];
          const float* dp = &dprob[static_cast<size_t>(r * kKeyBlock)];
          const int64_t row = bh * Lq + i0 + r;
          const int64_t n =
              r < rows ? std::max<int64_t>(0, std::min(attention_key_range(s, b, i0 + r).end - j0, cols)) : 0;
          const float lse = n > 0 ? p.lse[row] : 0.0f, delta = n > 0 ? p.delta[row] : 0.0f;
          if (n > 0) probabilities_from_lse(ds, padded_cols, s.scale, lse);
          for (int64_t c = 0; c < n; ++c)
            ds[c] = ds[c] * (dp[c] * dropout_factor(s, uint64_t(row * Lk + j0 + c), keep_scale) - delta);
          for (int64_t c = n; c < padded_cols; ++c) ds[c] = 0.0f;
        }
        matmul_accumulate(scores.data(), kKeyBlock, kb.data(), Dp, padded_cols, padded_rows, Dp, dq.data(),
                          Dp);
      }
      store_rows(dq.data(), rows, D, Dp, s.scale, dq_all + (bh * Lq + i0) * D);
    }
  });
}

// dk and dv, threaded over (batch, kv head, block of keys): each task loops over the query
// heads of its GQA group and the query blocks that can see its keys, recomputing S = Q Kᵀ and
// dP = dO Vᵀ against its K and V blocks (loaded and transposed once per task), and transposing
// the small P and dS blocks in cache for the key-side products.
//
// When every key fits in one block (Lk <= kKeyBlock, SASRec's case) a task sees all the keys
// of its query rows, so it also writes dq from the same dS: five block products instead of
// seven, and Q and dO are read once (`with_grad_q`).
template <class T>
void grad_kv_typed(const AttentionBackwardParams& p, bool with_grad_q) {
  const AttentionShape& s = p.shape;
  const int64_t B = s.batch, Hq = s.q_heads, Hkv = s.kv_heads, Lq = s.q_len, Lk = s.kv_len, D = s.head_dim;
  const int64_t Dp = round_up(D, kTileCols);
  const int64_t group = Hq / Hkv;
  const int64_t key_blocks = (Lk + kKeyBlock - 1) / kKeyBlock;
  const float keep_scale = attention_keep_scale(s);
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  const T* go_all = static_cast<const T*>(p.grad_out);
  T* dq_all = static_cast<T*>(p.grad_q);
  T* dk_all = static_cast<T*>(p.grad_k);
  T* dv_all = static_cast<T*>(p.grad_v);

  parallel_for(0, B * Hkv * key_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    const size_t rows_size = static_cast<size_t>(kQueryBlock * Dp),
                 keys_size = static_cast<size_t>(kKeyBlock * Dp);
    std::vector<float> q(rows_size), go(rows_size), dq(rows_size);
    std::vector<float> kb(keys_size), vb(keys_size), dk(keys_size), dv(keys_size);
    std::vector<float> kt(static_cast<size_t>(D * kKeyBlock)), vt(static_cast<size_t>(D * kKeyBlock));
    // [query][key] blocks, and their transposes [key][query] for the key-side products.
    const size_t block_size = static_cast<size_t>(kQueryBlock * kKeyBlock);
    std::vector<float> scores(block_size), dprob(block_size), weights_t(block_size), dscores_t(block_size);
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const int64_t kblock = task % key_blocks, bhk = task / key_blocks;
      const int64_t b = bhk / Hkv, hk = bhk % Hkv;
      const int64_t j0 = kblock * kKeyBlock, cols = std::min(kKeyBlock, Lk - j0);
      const int64_t padded_cols = round_up(cols, kTileCols);
      const T* k = k_all + (bhk * Lk + j0) * D;
      const T* v = v_all + (bhk * Lk + j0) * D;
      load_rows(k, cols, D, padded_cols, Dp, kb.data());
      load_rows(v, cols, D, padded_cols, Dp, vb.data());
      load_transposed(k, cols, D, kKeyBlock, kt.data());
      load_transposed(v, cols, D, kKeyBlock, vt.data());
      std::fill(dk.begin(), dk.end(), 0.0f);
      std::fill(dv.begin(), dv.end(), 0.0f);
      const int64_t begin = attention_key_range(s, b, 0).begin;
      // A causal row i sees key j once i >= j - (Lk - Lq): earlier query blocks see none of these
      // keys (unless they owe dq, which they must write even when it is zero).
      const int64_t first_row = s.causal && !with_grad_q ? std::max<int64_t>(0, j0 - (Lk - Lq)) : 0;
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const int64_t bh = b * Hq + h;
        for (int64_t i0 = first_row / kQueryBlock * kQueryBlock; i0 < Lq; i0 += kQueryBlock) {
          const int64_t rows = std::min(kQueryBlock, Lq - i0), padded_rows = round_up(rows, kTileRows);
          load_rows(q_all + (bh * Lq + i0) * D, rows, D, padded_rows, Dp, q.data());
          load_rows(go_all + (bh * Lq + i0) * D, rows, D, padded_rows, Dp, go.data());
          matmul_transposed_b(q.data(), Dp, kt.data(), kKeyBlock, D, padded_rows, padded_cols, scores.data(),
                              kKeyBlock);
          matmul_transposed_b(go.data(), Dp, vt.data(), kKeyBlock, D, padded_rows, padded_cols, dprob.data(),
                              kKeyBlock);
          // scores become dS = P * (dP - delta), dprob the dropped-out P; both zero where masked.
          for (int64_t r = 0; r < padded_rows; ++r) {
            float* ds = &scores[static_cast<size_t>(r * kKeyBlock)];
            float* w = &dprob[static_cast<size_t>(r * kKeyBlock)];
            const int64_t row = bh * Lq + i0 + r;
            // Visible keys of this row, in block coordinates.
            const int64_t lo = std::max<int64_t>(begin - j0, 0);
            const int64_t hi = r < rows ? std::min(attention_key_range(s, b, i0 + r).end - j0, cols) : 0;
            if (hi <= lo) {
              for (int64_t c = 0; c < padded_cols; ++c) ds[c] = w[c] = 0.0f;
              continue;
            }
            const float lse = p.lse[row], delta = p.delta[row];
            probabilities_from_lse(ds, padded_cols, s.scale, lse);
            for (int64_t c = 0; c < padded_cols; ++c) {
              if (c < lo || c >= hi) {
                ds[c] = w[c] = 0.0f;
                continue;
              }
              const float factor = dropout_factor(s, uint64_t(row * Lk + j0 + c), keep_scale);
              const float prob = ds[c];
              ds[c] = prob * (w[c] * factor - delta);
              w[c] = prob * factor;
            }
          }
          if (with_grad_q) {
            std::fill(dq.begin(), dq.end(), 0.0f);
            matmul_accumulate(scores.data(), kKeyBlock, kb.data(), Dp, padded_cols, padded_rows, Dp,
                              dq.data(), Dp);
            store_rows(dq.data(), rows, D, Dp, s.scale, dq_all + (bh * Lq + i0) * D);
          }
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < padded_cols; ++c) {
              dscores_t[static_cast<size_t>(c * kQueryBlock + r)] =
                  scores[static_cast<size_t>(r * kKeyBlock + c)];
              weights_t[static_cast<size_t>(c * kQueryBlock + r)] =
                  dprob[static_cast<size_t>(r * kKeyBlock + c)];
            }
          matmul_accumulate(weights_t.data(), kQueryBlock, go.data(), Dp, rows, padded_cols, Dp, dv.data(),
                            Dp);
          matmul_accumulate(dscores_t.data(), kQueryBlock, q.data(), Dp, rows, padded_cols, Dp, dk.data(),
                            Dp);
        }
      }
      store_rows(dk.data(), cols, D, Dp, s.scale, dk_all + (bhk * Lk + j0) * D);
      store_rows(dv.data(), cols, D, Dp, 1.0f, dv_all + (bhk * Lk + j0) * D);
    }
  });
}

template <class T>
void rope_typed(const RopeParams& p) {
  const int64_t half = p.head_dim / 2, D = p.head_dim, L = p.len, H = p.heads;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t k = 0; k < half; ++k) inv_freq[size_t(k)] = std::pow(p.theta, -2.0 * double(k) / double(D));
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const float sign = p.inverse ? -1.0f : 1.0f;
  parallel_for(0, p.batch * L, std::max<int64_t>(1, 2048 / std::max<int64_t>(H * D, 1)),
               [&](int64_t lo, int64_t hi) {
                 std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
                 for (int64_t bl = lo; bl < hi; ++bl) {
                   const int64_t b = bl / L, l = bl % L;
                   const double position = double(p.positions[p.positions_per_batch ? bl : l]);
                   for (int64_t k = 0; k < half; ++k) {
                     const double angle = position * inv_freq[size_t(k)];
                     cos_t[size_t(k)] = float(std::cos(angle));
                     sin_t[size_t(k)] = sign * float(std::sin(angle));
                   }
                   for (int64_t h = 0; h < H; ++h) {
                     const int64_t base = ((b * H + h) * L + l) * D;
                     for (int64_t k = 0; k < half; ++k) {
                       const float x1 = to_float(x[base + k]), x2 = to_float(x[base + k + half]);
                       out[base + k] = from_float<T>(x1 * cos_t[size_t(k)] - x2 * sin_t[size_t(k)]);
                       out[base + k + half] = from_float<T>(x2 * cos_t[size_t(k)] + x1 * sin_t[size_t(k)]);
                     }
                   }
                 }
               });
}

// Lengths live in a tensor, so only the kernel sees them; the first bad one is reported.
void check_key_lengths(const AttentionShape& s) {
  if (s.key_lengths == nullptr) return;
  for (int64_t b = 0; b < s.batch; ++b)
    if (s.key_lengths[b] < 0 || s.key_lengths[b] > s.kv_len)
      throw_kernel_error(s.key_lengths_error_site, b, s.key_lengths[b]);
}

}  // namespace

void attention_forward(const AttentionForwardParams& p) {
  check_key_lengths(p.shape);
  visit_floating(p.shape.dtype, [&](auto* tag) { forward_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

void attention_backward(const AttentionBackwardParams& p) {
  check_key_lengths(p.shape);
  visit_floating(p.shape.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    delta_typed<T>(p);
    // With no keys at all there is no key block to write dq (zeros): the dq pass does.
    const bool single_key_block = p.shape.kv_len > 0 && p.shape.kv_len <= kKeyBlock;
    if (!single_key_block) grad_q_typed<T>(p);
    grad_kv_typed<T>(p, single_key_block);
  });
}

void rope(const RopeParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { rope_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

}  // namespace llmrec::kernels::cpu

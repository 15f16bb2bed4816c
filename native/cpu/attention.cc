// CPU twin of cuda/attention.cu.
//
// Forward and the dq pass are threaded over (batch, query head, block of query rows); the dk/dv
// pass over (batch, kv head, block of key rows), so every output element is written by exactly
// one task and nothing is accumulated across threads: results do not depend on the thread count.
// Score rows are computed against transposed f32 copies of the K (or Q) block, so the inner
// loops run over keys (or queries) with independent lanes and GCC vectorises them without
// reassociating any sum.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/attention.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using llmrec::cpu::bf16;
using llmrec::cpu::from_float;
using llmrec::cpu::parallel_for;
using llmrec::cpu::to_float;

namespace {

constexpr int64_t kQueryBlock = 32;
constexpr int64_t kKeyBlock = 64;

template <class T>
void load_rows(const T* src, int64_t rows, int64_t dim, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dim; ++d) dst[r * dim + d] = to_float(src[r * dim + d]);
}

// dst[d * stride + r] = src[r][d]: the block transposed, `stride` wide.
template <class T>
void load_transposed(const T* src, int64_t rows, int64_t dim, int64_t stride, float* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dim; ++d) dst[d * stride + r] = to_float(src[r * dim + d]);
}

// out[c] = sum_d row[d] * transposed[d * stride + c] for c < n.
inline void row_times_transposed(const float* row, const float* transposed, int64_t dim, int64_t stride,
                                 int64_t n, float* out) {
  for (int64_t c = 0; c < n; ++c) out[c] = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float x = row[d];
    const float* t = transposed + d * stride;
    for (int64_t c = 0; c < n; ++c) out[c] += x * t[c];
  }
}

inline void axpy(float a, const float* x, int64_t n, float* y) {
  for (int64_t d = 0; d < n; ++d) y[d] += a * x[d];
}

// The dropout factor of element `element`: 0 when dropped, 1 / (1 - p) when kept.
inline float dropout_factor(const AttentionShape& s, uint64_t element, float keep_scale) {
  return attention_keep(s, element) ? keep_scale : 0.0f;
}

template <class T>
void forward_typed(const AttentionForwardParams& p) {
  const AttentionShape& s = p.shape;
  const int64_t B = s.batch, Hq = s.q_heads, Lq = s.q_len, Lk = s.kv_len, D = s.head_dim;
  const int64_t group = Hq / s.kv_heads;
  const int64_t query_blocks = (Lq + kQueryBlock - 1) / kQueryBlock;
  const bool dropout = s.dropout > 0.0f;
  const float keep_scale = dropout ? 1.0f / (1.0f - s.dropout) : 1.0f;
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  T* out_all = static_cast<T*>(p.out);

  parallel_for(0, B * Hq * query_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    std::vector<float> q(static_cast<size_t>(kQueryBlock * D)), acc(static_cast<size_t>(kQueryBlock * D));
    std::vector<float> kt(static_cast<size_t>(D * kKeyBlock)), vb(static_cast<size_t>(kKeyBlock * D)),
        scores(static_cast<size_t>(kKeyBlock));
    float row_max[kQueryBlock], row_sum[kQueryBlock];
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const int64_t qb = task % query_blocks, bh = task / query_blocks;
      const int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
      const int64_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, Lq - i0);
      const T* k = k_all + (b * s.kv_heads + hk) * Lk * D;
      const T* v = v_all + (b * s.kv_heads + hk) * Lk * D;
      load_rows(q_all + (bh * Lq + i0) * D, rows, D, q.data());
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(row_max, row_max + kQueryBlock, -INFINITY);
      std::fill(row_sum, row_sum + kQueryBlock, 0.0f);
      // Key ranges only grow with i, so the last row's end bounds the block's.
      const int64_t begin = attention_key_range(s, b, i0).begin;
      const int64_t end = attention_key_range(s, b, i0 + rows - 1).end;
      for (int64_t j0 = begin; j0 < end; j0 += kKeyBlock) {
        const int64_t cols = std::min(kKeyBlock, end - j0);
        load_transposed(k + j0 * D, cols, D, kKeyBlock, kt.data());
        load_rows(v + j0 * D, cols, D, vb.data());
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const int64_t n = std::min(attention_key_range(s, b, i).end - j0, cols);
          if (n <= 0) continue;
          row_times_transposed(&q[size_t(r * D)], kt.data(), D, kKeyBlock, n, scores.data());
          float block_max = -INFINITY;
          for (int64_t c = 0; c < n; ++c) {
            scores[size_t(c)] *= s.scale;
            block_max = std::max(block_max, scores[size_t(c)]);
          }
          const float new_max = std::max(row_max[r], block_max);
          const float correction = std::exp(row_max[r] - new_max);  // exp(-inf) = 0 on the first block
          row_max[r] = new_max;
          float* a = &acc[size_t(r * D)];
          if (correction != 1.0f) {
            row_sum[r] *= correction;
            for (int64_t d = 0; d < D; ++d) a[d] *= correction;
          }
          float sum = 0.0f;
          for (int64_t c = 0; c < n; ++c) {
            const float prob = std::exp(scores[size_t(c)] - new_max);
            sum += prob;
            scores[size_t(c)] = prob;
          }
          row_sum[r] += sum;
          const uint64_t row_element = uint64_t((bh * Lq + i) * Lk + j0);
          for (int64_t c = 0; c < n; ++c) {
            float weight = scores[size_t(c)];
            if (dropout) weight *= dropout_factor(s, row_element + uint64_t(c), keep_scale);
            if (weight != 0.0f) axpy(weight, &vb[size_t(c * D)], D, a);
          }
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = bh * Lq + i0 + r;
        T* o = out_all + row * D;
        const bool empty = row_sum[r] == 0.0f;
        const float inv = empty ? 0.0f : 1.0f / row_sum[r];
        for (int64_t d = 0; d < D; ++d) o[d] = from_float<T>(acc[size_t(r * D + d)] * inv);
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
  const int64_t group = Hq / s.kv_heads;
  const int64_t query_blocks = (Lq + kQueryBlock - 1) / kQueryBlock;
  const bool dropout = s.dropout > 0.0f;
  const float keep_scale = dropout ? 1.0f / (1.0f - s.dropout) : 1.0f;
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  const T* go_all = static_cast<const T*>(p.grad_out);
  T* dq_all = static_cast<T*>(p.grad_q);

  parallel_for(0, B * Hq * query_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    std::vector<float> q(static_cast<size_t>(kQueryBlock * D)), go(static_cast<size_t>(kQueryBlock * D)),
        dq(static_cast<size_t>(kQueryBlock * D));
    std::vector<float> kt(static_cast<size_t>(D * kKeyBlock)), vt(static_cast<size_t>(D * kKeyBlock)),
        kb(static_cast<size_t>(kKeyBlock * D));
    std::vector<float> scores(static_cast<size_t>(kKeyBlock)), dprob(static_cast<size_t>(kKeyBlock));
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const int64_t qb = task % query_blocks, bh = task / query_blocks;
      const int64_t b = bh / Hq, h = bh % Hq, hk = h / group;
      const int64_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, Lq - i0);
      const T* k = k_all + (b * s.kv_heads + hk) * Lk * D;
      const T* v = v_all + (b * s.kv_heads + hk) * Lk * D;
      load_rows(q_all + (bh * Lq + i0) * D, rows, D, q.data());
      load_rows(go_all + (bh * Lq + i0) * D, rows, D, go.data());
      std::fill(dq.begin(), dq.end(), 0.0f);
      const int64_t begin = attention_key_range(s, b, i0).begin;
      const int64_t end = attention_key_range(s, b, i0 + rows - 1).end;
      for (int64_t j0 = begin; j0 < end; j0 += kKeyBlock) {
        const int64_t cols = std::min(kKeyBlock, end - j0);
        load_transposed(k + j0 * D, cols, D, kKeyBlock, kt.data());
        load_transposed(v + j0 * D, cols, D, kKeyBlock, vt.data());
        load_rows(k + j0 * D, cols, D, kb.data());
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r, row = bh * Lq + i;
          const int64_t n = std::min(attention_key_range(s, b, i).end - j0, cols);
          if (n <= 0) continue;
          const float lse = p.lse[row], delta = p.delta[row];
          row_times_transposed(&q[size_t(r * D)], kt.data(), D, kKeyBlock, n, scores.data());
          row_times_transposed(&go[size_t(r * D)], vt.data(), D, kKeyBlock, n, dprob.data());
          const uint64_t row_element = uint64_t(row * Lk + j0);
          float* g = &dq[size_t(r * D)];
          for (int64_t c = 0; c < n; ++c) {
            const float prob = std::exp(scores[size_t(c)] * s.scale - lse);
            float dp = dprob[size_t(c)];
            if (dropout) dp *= dropout_factor(s, row_element + uint64_t(c), keep_scale);
            const float ds = prob * (dp - delta);
            if (ds != 0.0f) axpy(ds, &kb[size_t(c * D)], D, g);
          }
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        T* out = dq_all + (bh * Lq + i0 + r) * D;
        for (int64_t d = 0; d < D; ++d) out[d] = from_float<T>(dq[size_t(r * D + d)] * s.scale);
      }
    }
  });
}

template <class T>
void grad_kv_typed(const AttentionBackwardParams& p) {
  const AttentionShape& s = p.shape;
  const int64_t B = s.batch, Hq = s.q_heads, Hkv = s.kv_heads, Lq = s.q_len, Lk = s.kv_len, D = s.head_dim;
  const int64_t group = Hq / Hkv;
  const int64_t key_blocks = (Lk + kKeyBlock - 1) / kKeyBlock;
  const bool dropout = s.dropout > 0.0f;
  const float keep_scale = dropout ? 1.0f / (1.0f - s.dropout) : 1.0f;
  const T* q_all = static_cast<const T*>(p.q);
  const T* k_all = static_cast<const T*>(p.k);
  const T* v_all = static_cast<const T*>(p.v);
  const T* go_all = static_cast<const T*>(p.grad_out);
  T* dk_all = static_cast<T*>(p.grad_k);
  T* dv_all = static_cast<T*>(p.grad_v);

  parallel_for(0, B * Hkv * key_blocks, 1, [&](int64_t task_lo, int64_t task_hi) {
    std::vector<float> kb(static_cast<size_t>(kKeyBlock * D)), vb(static_cast<size_t>(kKeyBlock * D));
    std::vector<float> dk(static_cast<size_t>(kKeyBlock * D)), dv(static_cast<size_t>(kKeyBlock * D));
    std::vector<float> qt(static_cast<size_t>(D * kQueryBlock)), got(static_cast<size_t>(D * kQueryBlock));
    std::vector<float> qb_rows(static_cast<size_t>(kQueryBlock * D)),
        go_rows(static_cast<size_t>(kQueryBlock * D));
    float scores[kQueryBlock], dprob[kQueryBlock], lse[kQueryBlock], delta[kQueryBlock];
    int64_t row_end[kQueryBlock];
    for (int64_t task = task_lo; task < task_hi; ++task) {
      const int64_t kblock = task % key_blocks, bhk = task / key_blocks;
      const int64_t b = bhk / Hkv, hk = bhk % Hkv;
      const int64_t j0 = kblock * kKeyBlock, cols = std::min(kKeyBlock, Lk - j0);
      load_rows(k_all + (bhk * Lk + j0) * D, cols, D, kb.data());
      load_rows(v_all + (bhk * Lk + j0) * D, cols, D, vb.data());
      std::fill(dk.begin(), dk.end(), 0.0f);
      std::fill(dv.begin(), dv.end(), 0.0f);
      const int64_t begin = attention_key_range(s, b, 0).begin;
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const int64_t bh = b * Hq + h;
        for (int64_t i0 = 0; i0 < Lq; i0 += kQueryBlock) {
          const int64_t rows = std::min(kQueryBlock, Lq - i0);
          // Rows whose visible keys end before this block contribute nothing; ends grow with i.
          if (attention_key_range(s, b, i0 + rows - 1).end <= j0 || begin >= j0 + cols) continue;
          load_transposed(q_all + (bh * Lq + i0) * D, rows, D, kQueryBlock, qt.data());
          load_transposed(go_all + (bh * Lq + i0) * D, rows, D, kQueryBlock, got.data());
          load_rows(q_all + (bh * Lq + i0) * D, rows, D, qb_rows.data());
          load_rows(go_all + (bh * Lq + i0) * D, rows, D, go_rows.data());
          for (int64_t r = 0; r < rows; ++r) {
            lse[r] = p.lse[bh * Lq + i0 + r];
            delta[r] = p.delta[bh * Lq + i0 + r];
            row_end[r] = attention_key_range(s, b, i0 + r).end;
          }
          for (int64_t c = 0; c < cols; ++c) {
            const int64_t j = j0 + c;
            if (j < begin) continue;
            row_times_transposed(&kb[size_t(c * D)], qt.data(), D, kQueryBlock, rows, scores);
            row_times_transposed(&vb[size_t(c * D)], got.data(), D, kQueryBlock, rows, dprob);
            float* gk = &dk[size_t(c * D)];
            float* gv = &dv[size_t(c * D)];
            for (int64_t r = 0; r < rows; ++r) {
              if (j >= row_end[r]) continue;
              const float prob = std::exp(scores[r] * s.scale - lse[r]);
              float factor = 1.0f;
              if (dropout) factor = dropout_factor(s, uint64_t((bh * Lq + i0 + r) * Lk + j), keep_scale);
              const float ds = prob * (dprob[r] * factor - delta[r]);
              const float weight = prob * factor;
              if (weight != 0.0f) axpy(weight, &go_rows[size_t(r * D)], D, gv);
              if (ds != 0.0f) axpy(ds, &qb_rows[size_t(r * D)], D, gk);
            }
          }
        }
      }
      T* out_k = dk_all + (bhk * Lk + j0) * D;
      T* out_v = dv_all + (bhk * Lk + j0) * D;
      for (int64_t e = 0; e < cols * D; ++e) {
        out_k[e] = from_float<T>(dk[size_t(e)] * s.scale);
        out_v[e] = from_float<T>(dv[size_t(e)]);
      }
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

template <class Fn>
void visit_float(DType dtype, Fn&& fn) {
  if (dtype == DType::BF16)
    fn(static_cast<bf16*>(nullptr));
  else
    fn(static_cast<float*>(nullptr));
}

}  // namespace

void attention_forward(const AttentionForwardParams& p) {
  visit_float(p.shape.dtype, [&](auto* tag) { forward_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

void attention_backward(const AttentionBackwardParams& p) {
  visit_float(p.shape.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    delta_typed<T>(p);
    grad_q_typed<T>(p);
    grad_kv_typed<T>(p);
  });
}

void rope(const RopeParams& p) {
  visit_float(p.dtype, [&](auto* tag) { rope_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

}  // namespace llmrec::kernels::cpu

// CPU twin of cuda/infonce.cu. Every pairwise pass (q→k, k→q, uniformity) is one PairSet: rows
// against columns with a similarity, a positive per row and a mask. Tiles of kRowTile x kColTile
// similarities live on the stack; the columns are also kept in transposed panels so a 4 x 16
// register-blocked micro-kernel streams them. The row-side gradient is a row-major pass and the
// column-side gradient a column-major pass, each output row owned by one task: deterministic for
// any thread count, with no shared accumulators.
#include "../kernels/infonce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels {

int infonce_positive_error_site() {
  static const int site =
      register_kernel_error_site("infonce: positive index {value} is out of range for {limit} keys");
  return site;
}

namespace cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kRowTile = 16;
constexpr int64_t kColTile = 64;
constexpr float kNormEps = 1e-12f;  // as torch.nn.functional.normalize
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct PairSet {
  const float* rows = nullptr;    // [R, d]
  const float* cols = nullptr;    // [C, d]
  const float* cols_t = nullptr;  // the columns as pack_panels() lays them out
  int64_t R = 0, C = 0, d = 0;
  bool squared_distance = false;  // s = -coef·||a - b||², else s = coef·a·b
  float coef = 1.0f;
  const int32_t* row_positive = nullptr;  // [R] or null (no positive term)
  const int32_t* row_id = nullptr;        // [R] item id of the row's positive; with col_id: masking
  const int32_t* col_id = nullptr;        // [C]
  bool exclude_diagonal = false;
};

bool masked(const PairSet& ps, int64_t i, int64_t j) {
  if (ps.exclude_diagonal && i == j) return true;
  return ps.col_id != nullptr && j != ps.row_positive[i] && ps.col_id[j] == ps.row_id[i];
}

// A kMicroRows x kMicroCols (4 x 16) block of similarities over the whole dimension. The accumulators are
// local vector values whose address is never taken, so they stay in eight AVX registers (a reference
// parameter would be reloaded and stored on every k, since it could alias the inputs).
constexpr int kMicroRows = 4;
constexpr int kMicroCols = 16;
typedef float Vec8 __attribute__((vector_size(32)));

inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

template <bool SQUARED_DISTANCE>
void micro_tile(const float* const (&a)[kMicroRows], const float* panel, int64_t d,
                float (&result)[kMicroRows][kMicroCols]) {
  Vec8 acc[kMicroRows][2] = {};
  for (int64_t k = 0; k < d; ++k) {
    const Vec8 b0 = load8(panel + k * kMicroCols), b1 = load8(panel + k * kMicroCols + 8);
    for (int r = 0; r < kMicroRows; ++r) {
      const Vec8 ar = Vec8{} + a[r][k];
      if constexpr (SQUARED_DISTANCE) {
        const Vec8 d0 = ar - b0, d1 = ar - b1;
        acc[r][0] += d0 * d0;
        acc[r][1] += d1 * d1;
      } else {
        acc[r][0] += ar * b0;
        acc[r][1] += ar * b1;
      }
    }
  }
  for (int r = 0; r < kMicroRows; ++r) {
    store8(result[r], acc[r][0]);
    store8(result[r] + 8, acc[r][1]);
  }
}

// S[ii * kColTile + jj] = s(i0 + ii, j0 + jj); masked pairs are -inf. Columns past nj (up to the
// next multiple of kMicroCols) hold padding and are never read.
template <bool SQUARED_DISTANCE>
void similarity_tile_typed(const PairSet& ps, int64_t i0, int64_t ni, int64_t j0, int64_t nj, float* S) {
  const float sign_coef = SQUARED_DISTANCE ? -ps.coef : ps.coef;
  for (int64_t ii0 = 0; ii0 < ni; ii0 += kMicroRows) {
    const float* a[kMicroRows];
    for (int r = 0; r < kMicroRows; ++r) a[r] = ps.rows + std::min(i0 + ii0 + r, ps.R - 1) * ps.d;
    const int64_t rows_here = std::min<int64_t>(kMicroRows, ni - ii0);
    for (int64_t jb = 0; jb < nj; jb += kMicroCols) {
      float acc[kMicroRows][kMicroCols];
      micro_tile<SQUARED_DISTANCE>(a, ps.cols_t + (j0 + jb) * ps.d, ps.d, acc);
      for (int64_t r = 0; r < rows_here; ++r)
        for (int l = 0; l < kMicroCols; ++l) S[(ii0 + r) * kColTile + jb + l] = sign_coef * acc[r][l];
    }
  }
  if (ps.exclude_diagonal || ps.col_id != nullptr)
    for (int64_t ii = 0; ii < ni; ++ii)
      for (int64_t jj = 0; jj < nj; ++jj)
        if (masked(ps, i0 + ii, j0 + jj)) S[ii * kColTile + jj] = kNegInf;
}

void similarity_tile(const PairSet& ps, int64_t i0, int64_t ni, int64_t j0, int64_t nj, float* S) {
  if (ps.squared_distance)
    similarity_tile_typed<true>(ps, i0, ni, j0, nj, S);
  else
    similarity_tile_typed<false>(ps, i0, ni, j0, nj, S);
}

typedef int32_t Vec8i __attribute__((vector_size(32)));

// e^x on eight lanes within 2 ulp (Cephes' expf polynomial), 0 below -87 and for -inf, NaN for
// NaN. Written on vector types because GCC will not if-convert (so not vectorise) the scalar
// form's selects under the default -ftrapping-math, and std::exp is a scalar libm call.
inline Vec8 fast_exp8(Vec8 x) {
  const Vec8 low = Vec8{} - 87.0f, high = Vec8{} + 88.0f;
  Vec8 c = x < low ? low : x;
  c = c > high ? high : c;
  c = x != x ? Vec8{} : c;
  // Round to nearest by truncating a positive biased value: c·log2(e) + 0.5 + 128 > 0 here.
  const Vec8i biased = __builtin_convertvector(c * 1.44269504088896341f + 128.5f, Vec8i);
  const Vec8i n_int = biased - 128;
  const Vec8 n = __builtin_convertvector(n_int, Vec8);
  const Vec8 r = c - n * 0.693359375f - n * -2.12194440e-4f;
  Vec8 p = Vec8{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  Vec8 scale;
  const Vec8i exponent_bits = (n_int + 127) << 23;
  std::memcpy(&scale, &exponent_bits, sizeof scale);
  const Vec8 result = x < low ? Vec8{} : p * scale;
  return x != x ? x : result;
}

// The larger of two, or NaN when either is: std::max drops a NaN, and a log-sum-exp whose max
// skipped one would turn a NaN input into a finite or -inf loss instead of NaN.
float max_keeping_nan(float a, float b) { return a != a || b != b ? a + b : std::max(a, b); }

float tile_row_max(const float* s, int64_t nj) {
  float m = kNegInf;
  for (int64_t jj = 0; jj < nj; ++jj) m = max_keeping_nan(m, s[jj]);
  return m;
}

// Σ e^(s - shift) over a tile row (of kColTile floats, nj of them valid) in eight fixed lanes.
float tile_row_exp_sum(const float* s, int64_t nj, float shift) {
  Vec8 acc = {};
  for (int64_t jj = 0; jj < nj; jj += 8) {
    Vec8 e = fast_exp8(load8(s + jj) - shift);
    for (int64_t l = nj - jj; l < 8; ++l) e[l] = 0.0f;
    acc += e;
  }
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l) sum += acc[l];
  return sum;
}

// Per row: the log-sum-exp over kept columns and the positive's similarity.
void row_logsumexp(const PairSet& ps, float* lse, float* positive_logit) {
  const int64_t row_tiles = (ps.R + kRowTile - 1) / kRowTile;
  parallel_for(0, row_tiles, 1, [&](int64_t lo, int64_t hi) {
    alignas(64) float S[kRowTile * kColTile] = {};
    for (int64_t tile = lo; tile < hi; ++tile) {
      const int64_t i0 = tile * kRowTile, ni = std::min(kRowTile, ps.R - i0);
      float run_max[kRowTile], run_sum[kRowTile];
      for (int64_t ii = 0; ii < ni; ++ii) {
        run_max[ii] = kNegInf;
        run_sum[ii] = 0.0f;
      }
      for (int64_t j0 = 0; j0 < ps.C; j0 += kColTile) {
        const int64_t nj = std::min(kColTile, ps.C - j0);
        similarity_tile(ps, i0, ni, j0, nj, S);
        for (int64_t ii = 0; ii < ni; ++ii) {
          const float* s = S + ii * kColTile;
          const float tile_max = tile_row_max(s, nj);
          if (tile_max == kNegInf) continue;
          const float new_max = max_keeping_nan(run_max[ii], tile_max);
          const float tile_sum = tile_row_exp_sum(s, nj, new_max);
          run_sum[ii] = run_sum[ii] * std::exp(run_max[ii] - new_max) + tile_sum;
          run_max[ii] = new_max;
          if (ps.row_positive != nullptr) {
            const int64_t jp = ps.row_positive[i0 + ii] - j0;
            if (jp >= 0 && jp < nj) positive_logit[i0 + ii] = s[jp];
          }
        }
      }
      for (int64_t ii = 0; ii < ni; ++ii) lse[i0 + ii] = run_max[ii] + std::log(run_sum[ii]);
    }
  });
}

// G = dLoss/ds scaled by ds/d(a·b) (dot) or by -2t (squared distance), for one tile.
void gradient_tile(const PairSet& ps, const float* lse, float weight, int64_t i0, int64_t ni, int64_t j0,
                   int64_t nj, float* S) {
  similarity_tile(ps, i0, ni, j0, nj, S);
  const float chain = ps.squared_distance ? -2.0f * ps.coef : ps.coef;
  for (int64_t ii = 0; ii < ni; ++ii) {
    float* s = S + ii * kColTile;
    const float row_lse = lse[i0 + ii];
    // Whole groups of eight: lanes past nj hold stale values that nothing reads. Masked: e^-inf = 0.
    for (int64_t jj = 0; jj < nj; jj += 8) store8(s + jj, fast_exp8(load8(s + jj) - row_lse));
    if (ps.row_positive != nullptr) {
      const int64_t jp = ps.row_positive[i0 + ii] - j0;
      if (jp >= 0 && jp < nj) s[jp] -= 1.0f;
    }
    for (int64_t jj = 0; jj < nj; ++jj) s[jj] *= weight * chain;
  }
}

// out[r][k] += Σ_t g[r][t·g_stride] · src[t·d + k] for r < 4 and every k: four output rows at a
// time, 16 columns of them held in registers while t runs (the gradient GEMMs' micro-kernel).
void accumulate_rows(float* const (&out)[kMicroRows], const float* const (&g)[kMicroRows], int64_t g_stride,
                     const float* src, int64_t n, int64_t d) {
  int64_t k0 = 0;
  for (; k0 + kMicroCols <= d; k0 += kMicroCols) {
    Vec8 acc[kMicroRows][2];
    for (int r = 0; r < kMicroRows; ++r) {
      acc[r][0] = load8(out[r] + k0);
      acc[r][1] = load8(out[r] + k0 + 8);
    }
    for (int64_t t = 0; t < n; ++t) {
      const Vec8 s0 = load8(src + t * d + k0), s1 = load8(src + t * d + k0 + 8);
      for (int r = 0; r < kMicroRows; ++r) {
        const Vec8 c = Vec8{} + g[r][t * g_stride];
        acc[r][0] += c * s0;
        acc[r][1] += c * s1;
      }
    }
    for (int r = 0; r < kMicroRows; ++r) {
      store8(out[r] + k0, acc[r][0]);
      store8(out[r] + k0 + 8, acc[r][1]);
    }
  }
  for (int64_t t = 0; t < n && k0 < d; ++t)
    for (int r = 0; r < kMicroRows; ++r) {
      const float c = g[r][t * g_stride];
      for (int64_t k = k0; k < d; ++k) out[r][k] += c * src[t * d + k];
    }
}

// Stand-ins for the rows of a ragged last group of four: zero coefficients, a scratch output.
const float kZeroTile[kRowTile * kColTile] = {};

// One side's gradient, threaded over that side's ("own") tiles and sweeping the other side's:
// rows (kRows): d_rows[i] = Σ_j G_ij b_j (dot) or a_i Σ_j G_ij - Σ_j G_ij b_j (squared
// distance); columns: d_cols[j] = Σ_i G_ij a_i or b_j Σ_i G_ij - Σ_i G_ij a_i. Overwrites.
template <bool kRows>
void side_gradient(const PairSet& ps, const float* lse, float weight, float* d_own) {
  constexpr int64_t kOwnTile = kRows ? kRowTile : kColTile;
  const int64_t own_count = kRows ? ps.R : ps.C, other_count = kRows ? ps.C : ps.R;
  const float* own = kRows ? ps.rows : ps.cols;
  const float* other = kRows ? ps.cols : ps.rows;
  const int64_t own_tiles = (own_count + kOwnTile - 1) / kOwnTile;
  const int64_t d = ps.d;
  parallel_for(0, own_tiles, 1, [&](int64_t lo, int64_t hi) {
    alignas(64) float S[kRowTile * kColTile] = {};
    std::vector<float> discard(static_cast<size_t>(d));
    for (int64_t tile = lo; tile < hi; ++tile) {
      const int64_t o0 = tile * kOwnTile, no = std::min(kOwnTile, own_count - o0);
      std::fill(d_own + o0 * d, d_own + (o0 + no) * d, 0.0f);
      float own_sum[kOwnTile] = {};
      for (int64_t x0 = 0; x0 < other_count; x0 += kRows ? kColTile : kRowTile) {
        const int64_t nx = std::min(kRows ? kColTile : kRowTile, other_count - x0);
        const int64_t i0 = kRows ? o0 : x0, ni = kRows ? no : nx, j0 = kRows ? x0 : o0, nj = kRows ? nx : no;
        gradient_tile(ps, lse, weight, i0, ni, j0, nj, S);
        for (int64_t ii = 0; ii < ni; ++ii)
          for (int64_t jj = 0; jj < nj; ++jj) own_sum[kRows ? ii : jj] += S[ii * kColTile + jj];
        for (int64_t oo0 = 0; oo0 < no; oo0 += kMicroRows) {
          float* out[kMicroRows];
          const float* g[kMicroRows];
          for (int r = 0; r < kMicroRows; ++r) {
            const bool inside = oo0 + r < no;
            out[r] = inside ? d_own + (o0 + oo0 + r) * d : discard.data();
            g[r] = inside ? S + (kRows ? (oo0 + r) * kColTile : oo0 + r) : kZeroTile;
          }
          accumulate_rows(out, g, kRows ? 1 : kColTile, other + x0 * d, nx, d);
        }
      }
      if (ps.squared_distance)
        for (int64_t oo = 0; oo < no; ++oo) {
          float* out = d_own + (o0 + oo) * d;
          const float* a = own + (o0 + oo) * d;
          for (int64_t k = 0; k < d; ++k) out[k] = a[k] * own_sum[oo] - out[k];
        }
    }
  });
}

// f32 copies of the inputs (normalised when asked), their inverse norms, and the panels the
// tiles read: everything the passes need, O((B + N + M)·d).
struct Prepared {
  int64_t B = 0, T = 0, d = 0;
  std::vector<float> q, q_t, q_inv_norm;  // [B, d], panels, [B]
  std::vector<float> k, k_t, k_inv_norm;  // [T, d], panels, [T]: keys then negatives
  std::vector<float> anchors;             // k→q rows: k[positive[i]], [B, d]
  std::vector<int32_t> positive, row_id;  // [B] each
  std::vector<int32_t> index;             // [B]: 0..B-1, the k→q positives
};

template <class T>
void load_rows(const T* src, int64_t n, int64_t d, bool normalize, float* dst, float* inv_norm) {
  parallel_for(0, n, std::max<int64_t>(1, 4096 / std::max<int64_t>(d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      float* out = dst + r * d;
      for (int64_t k = 0; k < d; ++k) out[k] = to_float(src[r * d + k]);
      if (!normalize) {
        inv_norm[r] = 1.0f;
        continue;
      }
      double squares = 0.0;
      for (int64_t k = 0; k < d; ++k) squares += double(out[k]) * out[k];
      const float inv = 1.0f / std::max(float(std::sqrt(squares)), kNormEps);
      inv_norm[r] = inv;
      for (int64_t k = 0; k < d; ++k) out[k] *= inv;
    }
  });
}

// x [n, d] repacked as panels of kMicroCols rows, each panel transposed to [d, kMicroCols] and
// zero-padded: the micro-kernel then streams one contiguous 64-byte line per k.
void pack_panels(const std::vector<float>& x, int64_t n, int64_t d, std::vector<float>& out) {
  const int64_t panels = (n + kMicroCols - 1) / kMicroCols;
  out.assign(static_cast<size_t>(panels * d * kMicroCols), 0.0f);
  parallel_for(0, panels, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t panel = lo; panel < hi; ++panel) {
      float* dst = out.data() + panel * d * kMicroCols;
      for (int64_t l = 0; l < kMicroCols && panel * kMicroCols + l < n; ++l) {
        const float* src = x.data() + (panel * kMicroCols + l) * d;
        for (int64_t k = 0; k < d; ++k) dst[k * kMicroCols + l] = src[k];
      }
    }
  });
}

template <class T>
Prepared prepare(const InfoNceParams& p) {
  Prepared pr;
  pr.B = p.batch;
  pr.T = p.key_count + p.negative_count;
  pr.d = p.dim;
  const int64_t d = p.dim;
  pr.positive.resize(static_cast<size_t>(pr.B));
  for (int64_t i = 0; i < pr.B; ++i) {
    const int64_t j = p.positives != nullptr ? p.positives[i] : i;
    if (j < 0 || j >= p.key_count) throw_kernel_error(infonce_positive_error_site(), j, p.key_count);
    pr.positive[size_t(i)] = int32_t(j);
  }
  pr.q.resize(static_cast<size_t>(pr.B * d));
  pr.q_inv_norm.resize(static_cast<size_t>(pr.B));
  pr.k.resize(static_cast<size_t>(pr.T * d));
  pr.k_inv_norm.resize(static_cast<size_t>(pr.T));
  load_rows(static_cast<const T*>(p.queries), pr.B, d, p.normalize, pr.q.data(), pr.q_inv_norm.data());
  load_rows(static_cast<const T*>(p.keys), p.key_count, d, p.normalize, pr.k.data(), pr.k_inv_norm.data());
  if (p.negative_count > 0)
    load_rows(static_cast<const T*>(p.negatives), p.negative_count, d, p.normalize,
              pr.k.data() + p.key_count * d, pr.k_inv_norm.data() + p.key_count);
  pack_panels(pr.q, pr.B, d, pr.q_t);
  pack_panels(pr.k, pr.T, d, pr.k_t);
  if (p.item_ids != nullptr) {
    pr.row_id.resize(static_cast<size_t>(pr.B));
    for (int64_t i = 0; i < pr.B; ++i) pr.row_id[size_t(i)] = p.item_ids[pr.positive[size_t(i)]];
  }
  if (p.symmetric) {
    pr.anchors.resize(static_cast<size_t>(pr.B * d));
    for (int64_t i = 0; i < pr.B; ++i)
      std::copy_n(pr.k.data() + pr.positive[size_t(i)] * d, d, pr.anchors.data() + i * d);
    pr.index.resize(static_cast<size_t>(pr.B));
    for (int64_t i = 0; i < pr.B; ++i) pr.index[size_t(i)] = int32_t(i);
  }
  return pr;
}

// The masking ids (row_id of the rows, col_id of the columns) apply only with item ids.
PairSet query_to_key(const InfoNceParams& p, const Prepared& pr) {
  const bool ids = p.item_ids != nullptr;
  return PairSet{pr.q.data(),
                 pr.k.data(),
                 pr.k_t.data(),
                 pr.B,
                 pr.T,
                 pr.d,
                 false,
                 1.0f / p.temperature,
                 pr.positive.data(),
                 ids ? pr.row_id.data() : nullptr,
                 ids ? p.item_ids : nullptr,
                 false};
}

// Candidates are the queries; query i' carries the item id of its positive, row_id again.
PairSet key_to_query(const InfoNceParams& p, const Prepared& pr) {
  const bool ids = p.item_ids != nullptr;
  return PairSet{pr.anchors.data(),
                 pr.q.data(),
                 pr.q_t.data(),
                 pr.B,
                 pr.B,
                 pr.d,
                 false,
                 1.0f / p.temperature,
                 pr.index.data(),
                 ids ? pr.row_id.data() : nullptr,
                 ids ? pr.row_id.data() : nullptr,
                 false};
}

PairSet uniformity(const InfoNceParams& p, const Prepared& pr) {
  return PairSet{pr.q.data(), pr.q.data(),    pr.q_t.data(), pr.B,    pr.B,    pr.d,
                 true,        p.uniformity_t, nullptr,       nullptr, nullptr, true};
}

float logsumexp(const float* x, int64_t n) {
  float m = kNegInf;
  for (int64_t i = 0; i < n; ++i) m = max_keeping_nan(m, x[i]);
  if (m == kNegInf || m != m) return m;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - m);
  return m + float(std::log(sum));
}

double mean_difference(const std::vector<float>& lse, const std::vector<float>& positive_logit) {
  double total = 0.0;
  for (size_t i = 0; i < lse.size(); ++i) total += double(lse[i]) - double(positive_logit[i]);
  return total / double(lse.size());
}

template <class T>
void forward_typed(const InfoNceParams& p) {
  const Prepared pr = prepare<T>(p);
  const int64_t B = pr.B;
  std::vector<float> lse(static_cast<size_t>(B)), positive_logit(static_cast<size_t>(B));
  row_logsumexp(query_to_key(p, pr), lse.data(), positive_logit.data());
  std::fill(p.stats, p.stats + infonce_stats_size(B), 0.0f);
  std::copy(lse.begin(), lse.end(), p.stats);
  double loss = mean_difference(lse, positive_logit);
  if (p.symmetric) {
    std::vector<float> lse_back(static_cast<size_t>(B)), positive_back(static_cast<size_t>(B));
    row_logsumexp(key_to_query(p, pr), lse_back.data(), positive_back.data());
    std::copy(lse_back.begin(), lse_back.end(), p.stats + B);
    loss = 0.5 * (loss + mean_difference(lse_back, positive_back));
  }
  if (p.uniformity_weight != 0.0f) {
    std::vector<float> row_lse(static_cast<size_t>(B)), unused(static_cast<size_t>(B));
    row_logsumexp(uniformity(p, pr), row_lse.data(), unused.data());
    const float total = logsumexp(row_lse.data(), B);
    p.stats[2 * B] = total;
    loss += double(p.uniformity_weight) * (double(total) - std::log(double(B) * double(B - 1)));
  }
  p.loss[0] = float(loss);
}

// dx = (dx̂ - x̂ (x̂·dx̂)) / ||x|| for normalised rows; dx = dx̂ otherwise.
template <class T>
void store_input_gradient(const float* x_hat, const float* inv_norm, const float* grad_hat, int64_t n,
                          int64_t d, bool normalize, T* out) {
  parallel_for(0, n, std::max<int64_t>(1, 4096 / std::max<int64_t>(d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x_hat + r * d;
      const float* gr = grad_hat + r * d;
      T* o = out + r * d;
      if (!normalize) {
        for (int64_t k = 0; k < d; ++k) o[k] = from_float<T>(gr[k]);
        continue;
      }
      float dot = 0.0f;
      for (int64_t k = 0; k < d; ++k) dot += xr[k] * gr[k];
      // Below the clamp x̂ = x / eps is linear in x, so its gradient has no projection.
      const bool clamped = inv_norm[r] >= 1.0f / kNormEps;
      const float projection = clamped ? 0.0f : dot;
      for (int64_t k = 0; k < d; ++k) o[k] = from_float<T>((gr[k] - xr[k] * projection) * inv_norm[r]);
    }
  });
}

template <class T>
void backward_typed(const InfoNceParams& p) {
  const Prepared pr = prepare<T>(p);
  const int64_t B = pr.B, d = pr.d;
  const float grad = p.grad_loss[0];
  const float direction_weight = grad * (p.symmetric ? 0.5f : 1.0f) / float(B);
  std::vector<float> d_q(static_cast<size_t>(B * d)), d_k(static_cast<size_t>(pr.T * d)),
      scratch(static_cast<size_t>(B * d));

  const PairSet forward_pairs = query_to_key(p, pr);
  side_gradient<true>(forward_pairs, p.stats, direction_weight, d_q.data());
  side_gradient<false>(forward_pairs, p.stats, direction_weight, d_k.data());
  if (p.symmetric) {
    const PairSet back_pairs = key_to_query(p, pr);
    side_gradient<false>(back_pairs, p.stats + B, direction_weight, scratch.data());
    for (size_t e = 0; e < d_q.size(); ++e) d_q[e] += scratch[e];
    side_gradient<true>(back_pairs, p.stats + B, direction_weight, scratch.data());
    // Anchors are gathered keys: scatter back in query order, so repeated positives add up in a
    // fixed order.
    for (int64_t i = 0; i < B; ++i) {
      float* dst = d_k.data() + pr.positive[size_t(i)] * d;
      const float* src = scratch.data() + i * d;
      for (int64_t k = 0; k < d; ++k) dst[k] += src[k];
    }
  }
  if (p.uniformity_weight != 0.0f) {
    const PairSet ps = uniformity(p, pr);
    // Every row shares the total log-sum-exp: d/ds_ij of log Σ exp(s) is exp(s_ij - total).
    std::vector<float> total(size_t(B), p.stats[2 * B]);
    const float weight = grad * p.uniformity_weight;
    side_gradient<true>(ps, total.data(), weight, scratch.data());
    for (size_t e = 0; e < d_q.size(); ++e) d_q[e] += scratch[e];
    side_gradient<false>(ps, total.data(), weight, scratch.data());
    for (size_t e = 0; e < d_q.size(); ++e) d_q[e] += scratch[e];
  }
  store_input_gradient(pr.q.data(), pr.q_inv_norm.data(), d_q.data(), B, d, p.normalize,
                       static_cast<T*>(p.grad_queries));
  store_input_gradient(pr.k.data(), pr.k_inv_norm.data(), d_k.data(), p.key_count, d, p.normalize,
                       static_cast<T*>(p.grad_keys));
  if (p.negative_count > 0 && p.grad_negatives != nullptr)
    store_input_gradient(pr.k.data() + p.key_count * d, pr.k_inv_norm.data() + p.key_count,
                         d_k.data() + p.key_count * d, p.negative_count, d, p.normalize,
                         static_cast<T*>(p.grad_negatives));
}

}  // namespace

void infonce_forward(const InfoNceParams& p) {
  if (p.dtype == DType::BF16)
    forward_typed<bf16>(p);
  else
    forward_typed<float>(p);
}

void infonce_backward(const InfoNceParams& p) {
  if (p.dtype == DType::BF16)
    backward_typed<bf16>(p);
  else
    backward_typed<float>(p);
}

}  // namespace cpu
}  // namespace llmrec::kernels

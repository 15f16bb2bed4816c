// Lets GCC if-convert the selects in fast_math and vectorise the loops that call it; results do
// not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/loss.cu.
//
// The fused linear cross-entropy works on tiles of kRowBlock rows x kChunk vocabulary columns:
// logits of a tile come from dot_tile (a register-blocked, vectorised dot-product kernel kept
// local to this family until the GEMM family can replace it), and each row folds the tile into
// an online log-sum-exp. The backward recomputes the tiles twice: once in row blocks for
// dHidden (each thread owns its rows) and once in vocabulary chunks for dWeight (each thread
// owns its columns), so both are deterministic and no N x V buffer ever exists.
#include "../kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/fast_math.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using llmrec::cpu::bf16;
using llmrec::cpu::from_float;
using llmrec::cpu::parallel_for;
using llmrec::cpu::to_float;
using llmrec::cpu::visit_dtype;

namespace {

constexpr int64_t kRowBlock = 32;
constexpr int64_t kChunk = 64;
constexpr int64_t kLanes = 8;

// --- dot-product tiles ------------------------------------------------------------------------

inline float dot(const float* __restrict a, const float* __restrict b, int64_t k_len) {
  float lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= k_len; k += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[k + l] * b[k + l];
  float total = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) total += lanes[l];
  for (; k < k_len; ++k) total += a[k] * b[k];
  return total;
}

// Four rows of A against two rows of B: 8 accumulators of 8 lanes stay in registers.
inline void dot_4x2(const float* __restrict a, const float* __restrict b, int64_t k_len, float* c,
                    int64_t ldc) {
  float acc[4][2][kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= k_len; k += kLanes)
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < 2; ++j)
        for (int64_t l = 0; l < kLanes; ++l) acc[r][j][l] += a[r * k_len + k + l] * b[j * k_len + k + l];
  for (int r = 0; r < 4; ++r)
    for (int j = 0; j < 2; ++j) {
      float total = 0.0f;
      for (int64_t l = 0; l < kLanes; ++l) total += acc[r][j][l];
      for (int64_t kk = k; kk < k_len; ++kk) total += a[r * k_len + kk] * b[j * k_len + kk];
      c[r * ldc + j] = total;
    }
}

// c[i * ldc + j] = dot(a row i, b row j) for i < m, j < n; rows of a and b are k_len long.
void dot_tile(const float* a, int64_t m, const float* b, int64_t n, int64_t k_len, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) dot_4x2(a + i * k_len, b + j * k_len, k_len, c + i * ldc + j, ldc);
    for (; j < n; ++j)
      for (int64_t r = 0; r < 4; ++r) c[(i + r) * ldc + j] = dot(a + (i + r) * k_len, b + j * k_len, k_len);
  }
  for (; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = dot(a + i * k_len, b + j * k_len, k_len);
}

inline void axpy(float alpha, const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Rows [begin, begin + count) of a [*, width] matrix as f32: the matrix itself for f32, else a
// converted copy in `buffer`.
template <class T>
const float* rows_as_f32(const T* m, int64_t begin, int64_t count, int64_t width,
                         std::vector<float>& buffer) {
  if constexpr (std::is_same_v<T, float>) {
    (void)buffer;
    return m + begin * width;
  } else {
    buffer.resize(size_t(count * width));
    const T* src = m + begin * width;
    for (int64_t i = 0; i < count * width; ++i) buffer[size_t(i)] = to_float(src[i]);
    return buffer.data();
  }
}

// --- labels -----------------------------------------------------------------------------------

// The label of row r, or -1 when the row is ignored. Labels were validated already.
inline int64_t row_label(const CrossEntropyTargets& t, int64_t r) {
  const int32_t y = t.labels ? t.labels[r] : 0;
  return y == t.ignore_index ? -1 : y;
}

// Serial, so the first bad row is the one reported, whatever the thread count.
void validate_labels(const CrossEntropyTargets& t, int64_t rows, int64_t classes) {
  if (!t.labels) return;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t y = t.labels[r];
    if (y != t.ignore_index && (y < 0 || y >= classes)) throw_kernel_error(t.error_site, r, y);
  }
}

int64_t count_valid(const CrossEntropyTargets& t, int64_t rows) {
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) count += row_label(t, r) >= 0;
  return count;
}

// d(loss)/d(row loss) for row r.
std::vector<float> row_scales(const CrossEntropyTargets& t, int64_t rows, LossReduction reduction,
                              const float* grad_loss) {
  std::vector<float> scale(size_t(rows), 0.0f);
  const float divisor = reduction == LossReduction::Mean ? float(count_valid(t, rows)) : 1.0f;
  for (int64_t r = 0; r < rows; ++r)
    if (row_label(t, r) >= 0)
      scale[size_t(r)] = (reduction == LossReduction::None ? grad_loss[r] : grad_loss[0]) / divisor;
  return scale;
}

// Running log-sum-exp of one row plus the sums the loss needs.
struct RowStats {
  float max = -INFINITY;
  double sum_exp = 0.0;
  double sum_logits = 0.0;
  float label_logit = 0.0f;

  void fold(const float* z, int64_t n, int64_t first_column, int64_t label) {
    float lanes_max[kLanes], lanes_exp[kLanes] = {}, lanes_sum[kLanes] = {};
    for (int64_t l = 0; l < kLanes; ++l) lanes_max[l] = -INFINITY;
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) lanes_max[l] = std::max(lanes_max[l], z[j + l]);
    float chunk_max = -INFINITY;
    for (int64_t l = 0; l < kLanes; ++l) chunk_max = std::max(chunk_max, lanes_max[l]);
    for (int64_t k = j; k < n; ++k) chunk_max = std::max(chunk_max, z[k]);
    const float new_max = std::max(max, chunk_max);
    if (new_max == -INFINITY) return;
    for (j = 0; j + kLanes <= n; j += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) {
        lanes_exp[l] += fast_math::exp(z[j + l] - new_max);
        lanes_sum[l] += z[j + l];
      }
    float chunk_exp = 0.0f, chunk_sum = 0.0f;
    for (int64_t l = 0; l < kLanes; ++l) {
      chunk_exp += lanes_exp[l];
      chunk_sum += lanes_sum[l];
    }
    for (; j < n; ++j) {
      chunk_exp += fast_math::exp(z[j] - new_max);
      chunk_sum += z[j];
    }
    sum_exp = sum_exp * std::exp(double(max) - double(new_max)) + chunk_exp;
    sum_logits += chunk_sum;
    max = new_max;
    if (label >= first_column && label < first_column + n) label_logit = z[label - first_column];
  }

  float lse() const { return max + float(std::log(sum_exp)); }
};

inline float row_loss_of(const RowStats& s, int64_t label, float smoothing, int64_t classes) {
  if (label < 0) return 0.0f;
  return float(double(s.lse()) - (1.0 - smoothing) * s.label_logit -
               smoothing / double(classes) * s.sum_logits);
}

// dz = scale * (softmax - q) for one row's tile, in place.
inline void logits_to_grad(float* z, int64_t n, int64_t first_column, float lse, float scale, int64_t label,
                           float smoothing, int64_t classes) {
  const float uniform = smoothing / float(classes);
  for (int64_t j = 0; j < n; ++j) z[j] = scale * (fast_math::exp(z[j] - lse) - uniform);
  if (label >= first_column && label < first_column + n)
    z[label - first_column] -= scale * (1.0f - smoothing);
}

// --- fused linear cross-entropy ---------------------------------------------------------------

template <class T>
void linear_ce_forward(const LinearCrossEntropyParams& p) {
  const T* hidden = static_cast<const T*>(p.hidden);
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t rows = p.rows, dim = p.dim, vocab = p.vocab;
  const CrossEntropyTargets t = p.targets;
  validate_labels(t, rows, vocab);
  parallel_for(0, llmrec::cpu::fixed_block_count(rows, kRowBlock), 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> h_buf, w_buf, tile(size_t(kRowBlock * kChunk));
    for (int64_t block = lo; block < hi; ++block) {
      const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
      const float* h = rows_as_f32(hidden, r0, rb, dim, h_buf);
      RowStats stats[kRowBlock];
      for (int64_t c0 = 0; c0 < vocab; c0 += kChunk) {
        const int64_t cw = std::min(kChunk, vocab - c0);
        const float* w = rows_as_f32(weight, c0, cw, dim, w_buf);
        dot_tile(h, rb, w, cw, dim, tile.data(), kChunk);
        for (int64_t i = 0; i < rb; ++i)
          stats[i].fold(tile.data() + i * kChunk, cw, c0, row_label(t, r0 + i));
      }
      for (int64_t i = 0; i < rb; ++i) {
        const int64_t label = row_label(t, r0 + i);
        p.lse[r0 + i] = stats[i].lse();
        p.row_loss[r0 + i] = row_loss_of(stats[i], label, t.label_smoothing, vocab);
      }
    }
  });
}

template <class T>
void linear_ce_backward(const LinearCrossEntropyBackwardParams& bp) {
  const LinearCrossEntropyParams& p = bp.forward;
  const T* hidden = static_cast<const T*>(p.hidden);
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t rows = p.rows, dim = p.dim, vocab = p.vocab;
  const CrossEntropyTargets t = p.targets;
  const float smoothing = t.label_smoothing;
  const std::vector<float> scale = row_scales(t, rows, bp.reduction, bp.grad_loss);
  const int64_t row_blocks = llmrec::cpu::fixed_block_count(rows, kRowBlock);

  // dz for one tile: recomputed logits turned into gradients in place.
  auto grad_tile = [&](const float* h, int64_t r0, int64_t rb, const float* w, int64_t c0, int64_t cw,
                       float* tile) {
    dot_tile(h, rb, w, cw, dim, tile, kChunk);
    for (int64_t i = 0; i < rb; ++i)
      logits_to_grad(tile + i * kChunk, cw, c0, p.lse[r0 + i], scale[size_t(r0 + i)], row_label(t, r0 + i),
                     smoothing, vocab);
  };
  auto block_is_ignored = [&](int64_t r0, int64_t rb) {
    for (int64_t i = 0; i < rb; ++i)
      if (scale[size_t(r0 + i)] != 0.0f) return false;
    return true;
  };

  if (bp.grad_hidden) {
    T* grad_hidden = static_cast<T*>(bp.grad_hidden);
    parallel_for(0, row_blocks, 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> h_buf, w_buf, tile(size_t(kRowBlock * kChunk)), acc(size_t(kRowBlock * dim));
      for (int64_t block = lo; block < hi; ++block) {
        const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (!block_is_ignored(r0, rb)) {
          const float* h = rows_as_f32(hidden, r0, rb, dim, h_buf);
          for (int64_t c0 = 0; c0 < vocab; c0 += kChunk) {
            const int64_t cw = std::min(kChunk, vocab - c0);
            const float* w = rows_as_f32(weight, c0, cw, dim, w_buf);
            grad_tile(h, r0, rb, w, c0, cw, tile.data());
            for (int64_t i = 0; i < rb; ++i)
              for (int64_t j = 0; j < cw; ++j)
                axpy(tile[size_t(i * kChunk + j)], w + j * dim, acc.data() + i * dim, dim);
          }
        }
        for (int64_t i = 0; i < rb * dim; ++i) grad_hidden[r0 * dim + i] = from_float<T>(acc[size_t(i)]);
      }
    });
  }

  if (bp.grad_weight) {
    T* grad_weight = static_cast<T*>(bp.grad_weight);
    parallel_for(0, llmrec::cpu::fixed_block_count(vocab, kChunk), 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> h_buf, w_buf, tile(size_t(kRowBlock * kChunk)), acc(size_t(kChunk * dim));
      for (int64_t chunk = lo; chunk < hi; ++chunk) {
        const int64_t c0 = chunk * kChunk, cw = std::min(kChunk, vocab - c0);
        std::fill(acc.begin(), acc.end(), 0.0f);
        const float* w = rows_as_f32(weight, c0, cw, dim, w_buf);
        for (int64_t block = 0; block < row_blocks; ++block) {
          const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
          if (block_is_ignored(r0, rb)) continue;
          const float* h = rows_as_f32(hidden, r0, rb, dim, h_buf);
          grad_tile(h, r0, rb, w, c0, cw, tile.data());
          for (int64_t j = 0; j < cw; ++j)
            for (int64_t i = 0; i < rb; ++i)
              axpy(tile[size_t(i * kChunk + j)], h + i * dim, acc.data() + j * dim, dim);
        }
        for (int64_t i = 0; i < cw * dim; ++i) grad_weight[c0 * dim + i] = from_float<T>(acc[size_t(i)]);
      }
    });
  }
}

// --- cross-entropy over given logits ----------------------------------------------------------

template <class T>
void load_logits(const CrossEntropyParams& p, int64_t r, float* v) {
  const T* first = static_cast<const T*>(p.first);
  const T* rest = static_cast<const T*>(p.rest);
  const int64_t offset = first ? 1 : 0, rest_cols = p.cols - offset;
  if (first) v[0] = to_float(first[r]);
  for (int64_t j = 0; j < rest_cols; ++j) v[offset + j] = to_float(rest[r * rest_cols + j]);
}

template <class T>
void ce_forward(const CrossEntropyParams& p) {
  validate_labels(p.targets, p.rows, p.cols);
  parallel_for(0, p.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(p.cols, 1)),
               [&](int64_t lo, int64_t hi) {
                 std::vector<float> v(static_cast<size_t>(p.cols));
                 for (int64_t r = lo; r < hi; ++r) {
                   load_logits<T>(p, r, v.data());
                   RowStats stats;
                   const int64_t label = row_label(p.targets, r);
                   stats.fold(v.data(), p.cols, 0, label);
                   p.lse[r] = stats.lse();
                   p.row_loss[r] = row_loss_of(stats, label, p.targets.label_smoothing, p.cols);
                 }
               });
}

template <class T>
void ce_backward(const CrossEntropyBackwardParams& bp) {
  const CrossEntropyParams& p = bp.forward;
  const std::vector<float> scale = row_scales(p.targets, p.rows, bp.reduction, bp.grad_loss);
  T* grad_first = static_cast<T*>(bp.grad_first);
  T* grad_rest = static_cast<T*>(bp.grad_rest);
  const int64_t offset = grad_first ? 1 : 0, rest_cols = p.cols - offset;
  parallel_for(0, p.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(p.cols, 1)),
               [&](int64_t lo, int64_t hi) {
                 std::vector<float> v(static_cast<size_t>(p.cols));
                 for (int64_t r = lo; r < hi; ++r) {
                   load_logits<T>(p, r, v.data());
                   logits_to_grad(v.data(), p.cols, 0, p.lse[r], scale[size_t(r)], row_label(p.targets, r),
                                  p.targets.label_smoothing, p.cols);
                   if (grad_first) grad_first[r] = from_float<T>(v[0]);
                   for (int64_t j = 0; j < rest_cols; ++j)
                     grad_rest[r * rest_cols + j] = from_float<T>(v[size_t(offset + j)]);
                 }
               });
}

// --- BCE with logits --------------------------------------------------------------------------

template <class T>
void bce_forward(const BceParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.target);
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out);
  parallel_for(0, p.numel, 1 << 14, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float xv = to_float(x[i]);
      const float loss =
          std::max(xv, 0.0f) - xv * to_float(y[i]) + std::log1p(fast_math::exp(-std::fabs(xv)));
      out[i] = from_float<T>(w ? loss * to_float(w[i]) : loss);
    }
  });
}

template <class T>
void bce_backward(const BceBackwardParams& bp) {
  const BceParams& p = bp.forward;
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.target);
  const T* w = static_cast<const T*>(p.weight);
  const T* g = static_cast<const T*>(bp.grad_out);
  T* dx = static_cast<T*>(bp.grad_x);
  parallel_for(0, p.numel, 1 << 14, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float sig = 1.0f / (1.0f + fast_math::exp(-to_float(x[i])));
      const float d = to_float(g[i]) * (sig - to_float(y[i]));
      dx[i] = from_float<T>(w ? d * to_float(w[i]) : d);
    }
  });
}

template <class Fn>
void visit_floating(DType dtype, Fn&& fn) {
  visit_dtype(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) fn(tag);
  });
}

}  // namespace

void linear_cross_entropy(const LinearCrossEntropyParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { linear_ce_forward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void linear_cross_entropy_backward(const LinearCrossEntropyBackwardParams& p) {
  visit_floating(p.forward.dtype,
                 [&](auto* tag) { linear_ce_backward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void cross_entropy(const CrossEntropyParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { ce_forward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void cross_entropy_backward(const CrossEntropyBackwardParams& p) {
  visit_floating(p.forward.dtype, [&](auto* tag) { ce_backward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void loss_reduce(const LossReduceParams& p) {
  double total = 0.0;
  for (int64_t r = 0; r < p.rows; ++r) total += p.row_loss[r];
  if (p.reduction == LossReduction::Mean) total /= double(count_valid(p.targets, p.rows));
  *p.out = float(total);
}

void bce_with_logits(const BceParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { bce_forward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void bce_with_logits_backward(const BceBackwardParams& p) {
  visit_floating(p.forward.dtype, [&](auto* tag) { bce_backward<std::remove_pointer_t<decltype(tag)>>(p); });
}

}  // namespace llmrec::kernels::cpu

// Lets GCC if-convert the selects in fast_math and vectorise the loops that call it; results do
// not change (the library never reads floating-point exception flags).
#pragma GCC optimize("no-trapping-math")

// CPU twin of cuda/loss.cu.
//
// The fused linear cross-entropy works on tiles of kRowBlock rows x kChunk vocabulary columns:
// logits of a tile come from a register-tiled GEMM on f32 copies of the operands (the weight
// chunk transposed), and each row folds the tile into an online log-sum-exp. The backward recomputes each
// tile once and uses its dz for both dWeight[chunk] and a per-group dHidden partial (see
// linear_ce_backward), so both gradients are deterministic and no N x V buffer ever exists.
#include "../kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels/fast_math.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kRowBlock = 32;  // a multiple of kTileRows
constexpr int64_t kChunk = 96;     // vocabulary columns per tile: a multiple of kTileCols
constexpr int64_t kLanes = 8;
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileCols = 24;

// --- GEMM tiles -------------------------------------------------------------------------------
// C[m x n] (+)= A[m x k] . B[k x n], all row-major and contiguous in their last axis (C with
// leading dimension ldc), m a multiple of kTileRows. The 4 x 24 register tile keeps 12 vector
// accumulators live and streams B rows: GCC turns it into broadcast-FMA code near the machine's
// peak. Local to this family until the GEMM family can take over.

template <int64_t COLS, bool ACCUMULATE>
inline void gemm_tile(const float* __restrict a, int64_t k_len, const float* __restrict b, int64_t ldb,
                      float* __restrict c, int64_t ldc) {
  float acc[kTileRows][COLS];
  for (int64_t r = 0; r < kTileRows; ++r)
    for (int64_t j = 0; j < COLS; ++j) acc[r][j] = ACCUMULATE ? c[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < k_len; ++k) {
    const float* brow = b + k * ldb;
    for (int64_t r = 0; r < kTileRows; ++r) {
      const float av = a[r * k_len + k];
      for (int64_t j = 0; j < COLS; ++j) acc[r][j] += av * brow[j];
    }
  }
  for (int64_t r = 0; r < kTileRows; ++r)
    for (int64_t j = 0; j < COLS; ++j) c[r * ldc + j] = acc[r][j];
}

template <bool ACCUMULATE>
void gemm(const float* a, int64_t m, int64_t k_len, const float* b, int64_t n, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i += kTileRows) {
    const float* ai = a + i * k_len;
    float* ci = c + i * ldc;
    int64_t j = 0;
    for (; j + kTileCols <= n; j += kTileCols)
      gemm_tile<kTileCols, ACCUMULATE>(ai, k_len, b + j, n, ci + j, ldc);
    for (; j + kLanes <= n; j += kLanes) gemm_tile<kLanes, ACCUMULATE>(ai, k_len, b + j, n, ci + j, ldc);
    for (; j < n; ++j) gemm_tile<1, ACCUMULATE>(ai, k_len, b + j, n, ci + j, ldc);
  }
}

inline float dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * b[i + l];
  float total = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

inline int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// Rows [begin, begin + count) of a [*, width] matrix as f32 in `out`, zero-padded to `padded` rows.
template <class T>
void load_rows(const T* m, int64_t begin, int64_t count, int64_t padded, int64_t width,
               std::vector<float>& out) {
  out.resize(size_t(padded * width));
  const T* src = m + begin * width;
  for (int64_t i = 0; i < count * width; ++i) out[size_t(i)] = to_float(src[i]);
  std::fill(out.begin() + count * width, out.end(), 0.0f);
}

// The transpose of rows [begin, begin + count) of a [*, width] matrix, as f32 [width x kChunk]
// with the columns past `count` zero: the B operand of the logits GEMM.
template <class T>
void load_rows_transposed(const T* m, int64_t begin, int64_t count, int64_t width, std::vector<float>& out) {
  out.assign(size_t(width * kChunk), 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    const T* src = m + (begin + j) * width;
    for (int64_t k = 0; k < width; ++k) out[size_t(k * kChunk + j)] = to_float(src[k]);
  }
}

// A run of up to kChunksPerPass vocabulary chunks, packed once and shared by every row block of
// the forward: per chunk the transposed f32 [dim x kChunk] B operand of the logits GEMM.
constexpr int64_t kChunksPerPass = 16;
// Memory for the per-group dHidden partials of the backward (at least two groups are kept).
constexpr int64_t kPartialBudget = int64_t(256) << 20;

struct PackedChunks {
  int64_t first_column = 0, chunks = 0;
  std::vector<std::vector<float>> transposed;
};

template <class T>
void pack_chunks(const T* weight, int64_t first_column, int64_t vocab, int64_t dim, PackedChunks& packed) {
  packed.first_column = first_column;
  packed.chunks = std::min(kChunksPerPass, (vocab - first_column + kChunk - 1) / kChunk);
  packed.transposed.resize(size_t(kChunksPerPass));
  parallel_for(0, packed.chunks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const int64_t c0 = first_column + c * kChunk, cw = std::min(kChunk, vocab - c0);
      load_rows_transposed(weight, c0, cw, dim, packed.transposed[size_t(c)]);
    }
  });
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
  const int64_t row_blocks = llmrec::cpu::fixed_block_count(rows, kRowBlock);
  // Each row folds the chunks in vocabulary order, so the result does not depend on threads.
  std::vector<RowStats> stats(static_cast<size_t>(rows));
  std::vector<std::vector<float>> hidden_f32(static_cast<size_t>(row_blocks));
  parallel_for(0, row_blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t block = lo; block < hi; ++block) {
      const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
      load_rows(hidden, r0, rb, round_up(rb, kTileRows), dim, hidden_f32[size_t(block)]);
    }
  });
  PackedChunks packed;
  for (int64_t first = 0; first < vocab; first += kChunksPerPass * kChunk) {
    pack_chunks(weight, first, vocab, dim, packed);
    parallel_for(0, row_blocks, 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> tile(size_t(kRowBlock * kChunk));
      for (int64_t block = lo; block < hi; ++block) {
        const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
        for (int64_t c = 0; c < packed.chunks; ++c) {
          const int64_t c0 = first + c * kChunk, cw = std::min(kChunk, vocab - c0);
          gemm<false>(hidden_f32[size_t(block)].data(), round_up(rb, kTileRows), dim,
                      packed.transposed[size_t(c)].data(), kChunk, tile.data(), kChunk);
          for (int64_t i = 0; i < rb; ++i) {
            if (p.logits) std::copy_n(tile.data() + i * kChunk, cw, p.logits + (r0 + i) * vocab + c0);
            stats[size_t(r0 + i)].fold(tile.data() + i * kChunk, cw, c0, row_label(t, r0 + i));
          }
        }
      }
    });
  }
  for (int64_t r = 0; r < rows; ++r) {
    p.lse[r] = stats[size_t(r)].lse();
    p.row_loss[r] = row_loss_of(stats[size_t(r)], row_label(t, r), t.label_smoothing, vocab);
  }
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

  // dz for one tile [padded x kChunk]: the logits (kept by the forward, or recomputed) turned
  // into gradients in place; the padding rows and columns become exact zeros so they add nothing
  // downstream.
  auto grad_tile = [&](const float* h, int64_t r0, int64_t rb, int64_t padded, const float* wt, int64_t c0,
                       int64_t cw, float* tile) {
    if (p.logits) {
      for (int64_t i = 0; i < rb; ++i) std::copy_n(p.logits + (r0 + i) * vocab + c0, cw, tile + i * kChunk);
    } else {
      gemm<false>(h, padded, dim, wt, kChunk, tile, kChunk);
    }
    for (int64_t i = 0; i < padded; ++i) {
      float* z = tile + i * kChunk;
      if (i < rb)
        logits_to_grad(z, cw, c0, p.lse[r0 + i], scale[size_t(r0 + i)], row_label(t, r0 + i), smoothing,
                       vocab);
      std::fill(z + (i < rb ? cw : 0), z + kChunk, 0.0f);
    }
  };
  auto block_is_ignored = [&](int64_t r0, int64_t rb) {
    for (int64_t i = 0; i < rb; ++i)
      if (scale[size_t(r0 + i)] != 0.0f) return false;
    return true;
  };

  // One pass over the vocabulary: each tile's dz feeds both dWeight[chunk] (owned by the task
  // that owns the chunk) and dHidden, which each group of chunks accumulates into its own
  // partial; the partials are summed in group order at the end. The number of groups depends on
  // the shapes only, so the result does not depend on the thread count.
  const int64_t chunks = llmrec::cpu::fixed_block_count(vocab, kChunk);
  const int64_t partial_bytes = round_up(rows, kRowBlock) * dim * int64_t(sizeof(float));
  const int64_t groups =
      bp.grad_hidden
          ? std::min(chunks, std::clamp<int64_t>(kPartialBudget / std::max<int64_t>(partial_bytes, 1), 2, 8))
          : chunks;
  std::vector<std::vector<float>> hidden_f32(static_cast<size_t>(row_blocks));
  parallel_for(0, row_blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t block = lo; block < hi; ++block) {
      const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0);
      load_rows(hidden, r0, rb, round_up(rb, kTileRows), dim, hidden_f32[size_t(block)]);
    }
  });
  // partial[g]: dHidden of group g, row block b at offset b * kRowBlock * dim.
  std::vector<std::vector<float>> partial(static_cast<size_t>(bp.grad_hidden ? groups : 0));
  T* grad_weight = static_cast<T*>(bp.grad_weight);
  parallel_for(0, groups, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> wt, w, tile(size_t(kRowBlock * kChunk)), tile_t(size_t(kChunk * kRowBlock)),
        acc_weight(size_t(kChunk * dim));
    for (int64_t group = lo; group < hi; ++group) {
      float* acc_hidden = nullptr;
      if (bp.grad_hidden) {
        partial[size_t(group)].assign(size_t(row_blocks * kRowBlock * dim), 0.0f);
        acc_hidden = partial[size_t(group)].data();
      }
      for (int64_t chunk = group * chunks / groups; chunk < (group + 1) * chunks / groups; ++chunk) {
        const int64_t c0 = chunk * kChunk, cw = std::min(kChunk, vocab - c0);
        if (!p.logits) load_rows_transposed(weight, c0, cw, dim, wt);
        if (bp.grad_hidden) load_rows(weight, c0, cw, kChunk, dim, w);
        std::fill(acc_weight.begin(), acc_weight.end(), 0.0f);
        for (int64_t block = 0; block < row_blocks; ++block) {
          const int64_t r0 = block * kRowBlock, rb = std::min(kRowBlock, rows - r0),
                        padded = round_up(rb, kTileRows);
          if (block_is_ignored(r0, rb)) continue;
          const float* h = hidden_f32[size_t(block)].data();
          grad_tile(h, r0, rb, padded, wt.data(), c0, cw, tile.data());
          // dHidden[block] += dz [padded x kChunk] . weight[chunk] [kChunk x dim]
          if (acc_hidden) gemm<true>(tile.data(), padded, kChunk, w.data(), dim, acc_hidden + r0 * dim, dim);
          if (grad_weight) {
            for (int64_t i = 0; i < padded; ++i)
              for (int64_t j = 0; j < kChunk; ++j)
                tile_t[size_t(j * padded + i)] = tile[size_t(i * kChunk + j)];
            // dWeight[chunk] += dz^T [kChunk x padded] . hidden[block] [padded x dim]
            gemm<true>(tile_t.data(), kChunk, padded, h, dim, acc_weight.data(), dim);
          }
        }
        if (grad_weight)
          for (int64_t i = 0; i < cw * dim; ++i)
            grad_weight[c0 * dim + i] = from_float<T>(acc_weight[size_t(i)]);
      }
    }
  });
  if (bp.grad_hidden) {
    T* grad_hidden = static_cast<T*>(bp.grad_hidden);
    parallel_for(0, rows * dim, 1 << 14, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        float total = 0.0f;
        for (int64_t group = 0; group < groups; ++group) total += partial[size_t(group)][size_t(i)];
        grad_hidden[i] = from_float<T>(total);
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

// --- scores of items gathered from a table --------------------------------------------------

// Serial, so the first bad index is the one reported.
void validate_indices(const GatherDotParams& p) {
  const int64_t n = p.rows * p.per_row;
  for (int64_t i = 0; i < n; ++i)
    if (p.indices[i] < 0 || p.indices[i] >= p.items) throw_kernel_error(p.error_site, i, p.indices[i]);
}

template <class T>
void gather_dot_forward(const GatherDotParams& p) {
  validate_indices(p);
  const T* user = static_cast<const T*>(p.user);
  const T* table = static_cast<const T*>(p.table);
  T* out = static_cast<T*>(p.out);
  const int64_t dim = p.dim, k = p.per_row;
  parallel_for(0, p.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(dim * k, 1)),
               [&](int64_t lo, int64_t hi) {
                 std::vector<float> u(static_cast<size_t>(dim)), item(static_cast<size_t>(dim));
                 for (int64_t r = lo; r < hi; ++r) {
                   for (int64_t c = 0; c < dim; ++c) u[size_t(c)] = to_float(user[r * dim + c]);
                   for (int64_t j = 0; j < k; ++j) {
                     const T* row = table + int64_t(p.indices[r * k + j]) * dim;
                     for (int64_t c = 0; c < dim; ++c) item[size_t(c)] = to_float(row[c]);
                     out[r * k + j] = from_float<T>(dot(u.data(), item.data(), dim));
                   }
                 }
               });
}

template <class T>
void gather_dot_backward_typed(const GatherDotBackwardParams& bp) {
  const GatherDotParams& p = bp.forward;
  // The backward may run on indices whose forward failed (backward before the loss is read), so
  // it validates them again rather than trust the forward: both loops below index by them.
  validate_indices(p);
  const T* user = static_cast<const T*>(p.user);
  const T* table = static_cast<const T*>(p.table);
  const T* g = static_cast<const T*>(bp.grad_out);
  const int64_t dim = p.dim, k = p.per_row, n = p.rows * k;
  if (bp.grad_user) {
    T* grad_user = static_cast<T*>(bp.grad_user);
    parallel_for(0, p.rows, 1, [&](int64_t lo, int64_t hi) {
      std::vector<float> acc(static_cast<size_t>(dim));
      for (int64_t r = lo; r < hi; ++r) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = 0; j < k; ++j) {
          const float gv = to_float(g[r * k + j]);
          const T* row = table + int64_t(p.indices[r * k + j]) * dim;
          for (int64_t c = 0; c < dim; ++c) acc[size_t(c)] += gv * to_float(row[c]);
        }
        for (int64_t c = 0; c < dim; ++c) grad_user[r * dim + c] = from_float<T>(acc[size_t(c)]);
      }
    });
  }
  if (bp.grad_table) {
    // Counting sort of the (n, k) positions by item, stable, then one owner per item.
    std::vector<int64_t> start(static_cast<size_t>(p.items + 1), 0), order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ++start[size_t(p.indices[i]) + 1];
    for (int64_t item = 0; item < p.items; ++item) start[size_t(item + 1)] += start[size_t(item)];
    std::vector<int64_t> fill = start;
    for (int64_t i = 0; i < n; ++i) order[size_t(fill[size_t(p.indices[i])]++)] = i;
    T* grad_table = static_cast<T*>(bp.grad_table);
    parallel_for(0, p.items, std::max<int64_t>(1, 4096 / std::max<int64_t>(dim, 1)),
                 [&](int64_t lo, int64_t hi) {
                   std::vector<float> acc(static_cast<size_t>(dim));
                   for (int64_t item = lo; item < hi; ++item) {
                     std::fill(acc.begin(), acc.end(), 0.0f);
                     for (int64_t s = start[size_t(item)]; s < start[size_t(item + 1)]; ++s) {
                       const int64_t pos = order[size_t(s)];
                       const float gv = to_float(g[pos]);
                       const T* u = user + (pos / k) * dim;
                       for (int64_t c = 0; c < dim; ++c) acc[size_t(c)] += gv * to_float(u[c]);
                     }
                     for (int64_t c = 0; c < dim; ++c)
                       grad_table[item * dim + c] = from_float<T>(acc[size_t(c)]);
                   }
                 });
  }
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

}  // namespace

void gather_dot(const GatherDotParams& p) {
  visit_floating(p.dtype, [&](auto* tag) { gather_dot_forward<std::remove_pointer_t<decltype(tag)>>(p); });
}

void gather_dot_backward(const GatherDotBackwardParams& p) {
  visit_floating(p.forward.dtype,
                 [&](auto* tag) { gather_dot_backward_typed<std::remove_pointer_t<decltype(tag)>>(p); });
}

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

// CPU twin of cuda/topk.cu. Each row (or query) keeps its k best candidates in a heap whose top
// is the worst of them, so most elements cost one comparison. Scoring works item by item: one
// item row, widened to f32 once, is dotted with a block of queries while it sits in L1.
#include "../kernels/topk.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../kernels/gemm.h"
#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels {

int score_topk_offsets_error_site() {
  static const int site = register_kernel_error_site(
      "scoreTopk: 'excludeOffsets' must start at 0, never decrease and end at the number of ids; entry "
      "{value} "
      "breaks that (there are {limit} ids)");
  return site;
}

int score_topk_ids_error_site() {
  static const int site = register_kernel_error_site(
      "scoreTopk: excluded item id {value} is out of range for a catalogue of {limit} items");
  return site;
}

namespace cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

struct Candidate {
  float value;
  int32_t index;
};

inline bool better(const Candidate& a, const Candidate& b) {
  return ranks_before(a.value, a.index, b.value, b.index);
}

// The k best candidates seen so far; heap[0] is the worst of them.
class TopkHeap {
 public:
  explicit TopkHeap(int k) : k_(size_t(k)) { heap_.reserve(k_); }
  void reset() { heap_.clear(); }
  void offer(float value, int32_t index) {
    // Most candidates lose to the current worst on value alone (NaN never takes this exit).
    if (heap_.size() == k_ && value < heap_.front().value) return;
    const Candidate c{value, index};
    if (heap_.size() < k_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (better(c, heap_.front())) {
      replace_worst(c);
    }
  }
  // Best first; the heap is left empty.
  std::vector<Candidate>& sorted() {
    std::sort(heap_.begin(), heap_.end(), better);
    return heap_;
  }

 private:
  // One sift-down from the root (std::pop_heap + push_heap would sift twice); keeps the
  // std::push_heap invariant: every parent ranks after its children.
  void replace_worst(const Candidate& c) {
    const size_t n = heap_.size();
    size_t i = 0;
    for (;;) {
      const size_t left = 2 * i + 1;
      if (left >= n) break;
      const size_t right = left + 1;
      const size_t worse = right < n && better(heap_[left], heap_[right]) ? right : left;
      if (!better(c, heap_[worse])) break;
      heap_[i] = heap_[worse];
      i = worse;
    }
    heap_[i] = c;
  }

  size_t k_;
  std::vector<Candidate> heap_;
};

template <class T>
void topk_typed(const TopkParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* values = static_cast<T*>(p.values);
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(p.n, 1));
  parallel_for(0, p.rows, grain, [&](int64_t lo, int64_t hi) {
    TopkHeap heap(p.k);
    for (int64_t row = lo; row < hi; ++row) {
      const T* xr = x + row * p.n;
      heap.reset();
      for (int64_t i = 0; i < p.n; ++i) heap.offer(to_float(xr[i]), int32_t(i));
      const std::vector<Candidate>& best = heap.sorted();
      for (int j = 0; j < p.k; ++j) {
        values[row * p.k + j] = from_float<T>(best[size_t(j)].value);
        p.indices[row * p.k + j] = best[size_t(j)].index;
      }
    }
  });
}

// Scores come from the GEMM twin, a block of queries against a tile of items at a time: its
// micro-kernel beats one dot product per pair several times over, and its fixed K order keeps
// every score independent of the tiling.
constexpr int64_t kQueryBlock = 48;  // eight 6-row slivers of the GEMM micro-kernel
constexpr int64_t kItemTile = 512;

template <class T>
void score_topk_typed(const ScoreTopkParams& p) {
  const T* queries = static_cast<const T*>(p.queries);
  const T* items = static_cast<const T*>(p.items);
  const int64_t d = p.dim;
  if (p.exclude_offsets) {
    // Checked before any work so that no kernel reads past the id list.
    if (p.exclude_offsets[0] != 0) throw_kernel_error(score_topk_offsets_error_site(), 0, p.exclude_count);
    for (int64_t u = 0; u < p.users; ++u)
      if (p.exclude_offsets[u + 1] < p.exclude_offsets[u])
        throw_kernel_error(score_topk_offsets_error_site(), u + 1, p.exclude_count);
    if (p.exclude_offsets[p.users] != p.exclude_count)
      throw_kernel_error(score_topk_offsets_error_site(), p.users, p.exclude_count);
    for (int64_t e = 0; e < p.exclude_count; ++e)
      if (p.exclude_ids[e] < 0 || p.exclude_ids[e] >= p.num_items)
        throw_kernel_error(score_topk_ids_error_site(), p.exclude_ids[e], p.num_items);
  }
  const int64_t query_blocks = (p.users + kQueryBlock - 1) / kQueryBlock;
  // Split the catalogue too when there are too few query blocks to occupy every thread; the
  // chunks' candidates merge into the same unique top-k whatever the split.
  const int64_t threads = llmrec::cpu::num_threads();
  const int64_t item_chunks =
      query_blocks >= 4 * threads
          ? 1
          : std::max<int64_t>(1, std::min<int64_t>((p.num_items + 4095) / 4096,
                                                   (4 * threads + query_blocks - 1) / query_blocks));
  const int64_t chunk_items = (p.num_items + item_chunks - 1) / item_chunks;
  // Per (query, chunk): up to k candidates, best first, padded with (-inf, -1).
  std::vector<Candidate> partial(size_t(p.users * item_chunks * p.k));

  parallel_for(0, query_blocks * item_chunks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> scores(static_cast<size_t>(kQueryBlock * kItemTile));
    std::vector<TopkHeap> heaps(static_cast<size_t>(kQueryBlock), TopkHeap(p.k));
    std::vector<std::vector<int32_t>> excluded(static_cast<size_t>(kQueryBlock));
    std::vector<size_t> cursor(static_cast<size_t>(kQueryBlock));
    for (int64_t unit = lo; unit < hi; ++unit) {
      const int64_t block = unit / item_chunks, chunk = unit % item_chunks;
      const int64_t u0 = block * kQueryBlock, count = std::min(kQueryBlock, p.users - u0);
      const int64_t i0 = chunk * chunk_items, i1 = std::min(p.num_items, i0 + chunk_items);
      for (int64_t q = 0; q < count; ++q) {
        std::vector<int32_t>& ex = excluded[size_t(q)];
        heaps[size_t(q)].reset();
        ex.clear();
        if (p.exclude_offsets)
          ex.assign(p.exclude_ids + p.exclude_offsets[u0 + q], p.exclude_ids + p.exclude_offsets[u0 + q + 1]);
        std::sort(ex.begin(), ex.end());
        cursor[size_t(q)] = size_t(std::lower_bound(ex.begin(), ex.end(), int32_t(i0)) - ex.begin());
      }
      const int64_t first = std::max<int64_t>(i0, p.exclude_padding ? 1 : 0);
      for (int64_t t0 = first; t0 < i1; t0 += kItemTile) {
        const int64_t tile = std::min(kItemTile, i1 - t0);
        GemmParams g;
        g.ab_dtype = p.dtype;
        g.c_dtype = DType::F32;
        g.trans_b = true;
        g.m = count;
        g.n = tile;
        g.k = d;
        g.a = queries + u0 * d;
        g.lda = d;
        g.b = items + t0 * d;
        g.ldb = d;
        g.out = scores.data();
        g.ldc = tile;
        gemm(g);  // nested in a parallel_for chunk, so it runs on this thread
        for (int64_t q = 0; q < count; ++q) {
          // Items arrive in increasing order, so each query's sorted exclusions are walked once.
          const std::vector<int32_t>& ex = excluded[size_t(q)];
          size_t& at = cursor[size_t(q)];
          TopkHeap& heap = heaps[size_t(q)];
          const float* row = scores.data() + q * tile;
          for (int64_t j = 0; j < tile; ++j) {
            const int64_t i = t0 + j;
            while (at < ex.size() && ex[at] < i) ++at;
            if (at < ex.size() && ex[at] == i) continue;
            heap.offer(row[j], int32_t(i));
          }
        }
      }
      for (int64_t q = 0; q < count; ++q) {
        const std::vector<Candidate>& best = heaps[size_t(q)].sorted();
        Candidate* out = partial.data() + ((u0 + q) * item_chunks + chunk) * p.k;
        for (int j = 0; j < p.k; ++j)
          out[j] = size_t(j) < best.size() ? best[size_t(j)]
                                           : Candidate{-std::numeric_limits<float>::infinity(), -1};
      }
    }
  });

  parallel_for(0, p.users, 16, [&](int64_t lo, int64_t hi) {
    TopkHeap heap(p.k);
    for (int64_t u = lo; u < hi; ++u) {
      heap.reset();
      const Candidate* candidates = partial.data() + u * item_chunks * p.k;
      for (int64_t c = 0; c < item_chunks * p.k; ++c)
        if (candidates[c].index >= 0) heap.offer(candidates[c].value, candidates[c].index);
      const std::vector<Candidate>& best = heap.sorted();
      for (int j = 0; j < p.k; ++j) {
        const bool filled = size_t(j) < best.size();
        p.values[u * p.k + j] = filled ? best[size_t(j)].value : -std::numeric_limits<float>::infinity();
        p.indices[u * p.k + j] = filled ? best[size_t(j)].index : -1;
      }
    }
  });
}

}  // namespace

void topk(const TopkParams& p) {
  if (p.rows == 0) return;
  if (p.dtype == DType::BF16)
    topk_typed<bf16>(p);
  else
    topk_typed<float>(p);
}

void score_topk(const ScoreTopkParams& p) {
  if (p.users == 0) return;
  if (p.dtype == DType::BF16)
    score_topk_typed<bf16>(p);
  else
    score_topk_typed<float>(p);
}

}  // namespace cpu
}  // namespace llmrec::kernels

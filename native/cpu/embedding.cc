// CPU twin of cuda/embedding.cu. The backward is a counting sort of the indices (stable, so each
// row's entries stay in position order) followed by a per-row reduction in that order: results
// are bit-identical for any thread count.
#include "../kernels/embedding.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "numeric.h"
#include "parallel.h"

namespace llmrec::kernels {

int embedding_index_error_site() {
  static const int site =
      register_kernel_error_site("embedding: index {value} is out of range for a table of {limit} rows");
  return site;
}

namespace cpu {
using namespace llmrec::cpu;  // the helpers of numeric.h, parallel.h and isa.h

namespace {

constexpr int64_t kGrainElements = 1 << 14;

int64_t rows_grain(int64_t width) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(width, 1));
}

// The first bad index in order, so the message is the same however the work is split.
void check_indices(const int32_t* indices, int64_t count, int64_t rows) {
  for (int64_t i = 0; i < count; ++i)
    if (indices[i] < 0 || indices[i] >= rows)
      throw_kernel_error(embedding_index_error_site(), indices[i], rows);
}

template <class T>
void forward_typed(const EmbeddingForwardParams& p) {
  const T* table = static_cast<const T*>(p.table);
  const T* positions = static_cast<const T*>(p.positions);
  T* out = static_cast<T*>(p.out);
  const int64_t width = p.width;
  parallel_for(0, p.count, rows_grain(width), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t index = p.indices[i];
      T* dst = out + i * width;
      if (index == p.padding_idx) {
        std::fill(dst, dst + width, from_float<T>(0.0f));
        continue;
      }
      const T* src = table + index * width;
      if (positions != nullptr) {
        const T* pos = positions + (i % p.sequence_length) * width;
        for (int64_t c = 0; c < width; ++c)
          dst[c] = from_float<T>(to_float(src[c]) * p.scale + to_float(pos[c]));
      } else if (p.scale != 1.0f) {
        for (int64_t c = 0; c < width; ++c) dst[c] = from_float<T>(to_float(src[c]) * p.scale);
      } else {
        std::memcpy(dst, src, size_t(width) * sizeof(T));
      }
    }
  });
}

template <class T>
void grad_table_typed(const EmbeddingBackwardParams& p) {
  const T* grad = static_cast<const T*>(p.grad_out);
  T* grad_table = static_cast<T*>(p.grad_table);
  const int64_t rows = p.rows, width = p.width;
  // Counting sort: row_start[v] .. row_start[v + 1] lists the flat positions holding index v.
  std::vector<int64_t> row_start(size_t(rows + 1), 0);
  for (int64_t i = 0; i < p.count; ++i)
    if (p.indices[i] != p.padding_idx) ++row_start[size_t(p.indices[i]) + 1];
  for (int64_t v = 0; v < rows; ++v) row_start[size_t(v + 1)] += row_start[size_t(v)];
  std::vector<int64_t> order(static_cast<size_t>(row_start[size_t(rows)]));
  {
    std::vector<int64_t> next(row_start.begin(), row_start.end() - 1);
    for (int64_t i = 0; i < p.count; ++i)
      if (p.indices[i] != p.padding_idx) order[size_t(next[size_t(p.indices[i])]++)] = i;
  }
  parallel_for(0, rows, rows_grain(width), [&](int64_t lo, int64_t hi) {
    std::vector<float> acc(static_cast<size_t>(width));
    for (int64_t v = lo; v < hi; ++v) {
      T* dst = grad_table + v * width;
      const int64_t begin = row_start[size_t(v)], end = row_start[size_t(v + 1)];
      if (begin == end) {
        std::fill(dst, dst + width, from_float<T>(0.0f));
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t k = begin; k < end; ++k) {
        const T* src = grad + order[size_t(k)] * width;
        for (int64_t c = 0; c < width; ++c) acc[size_t(c)] += to_float(src[c]);
      }
      for (int64_t c = 0; c < width; ++c) dst[c] = from_float<T>(acc[size_t(c)] * p.scale);
    }
  });
}

template <class T>
void grad_positions_typed(const EmbeddingBackwardParams& p) {
  const T* grad = static_cast<const T*>(p.grad_out);
  T* grad_positions = static_cast<T*>(p.grad_positions);
  const int64_t width = p.width, length = p.sequence_length;
  const int64_t sequences = p.count / length;
  parallel_for(0, p.position_rows, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> acc(static_cast<size_t>(width));
    for (int64_t position = lo; position < hi; ++position) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      if (position < length) {
        for (int64_t n = 0; n < sequences; ++n) {
          const int64_t i = n * length + position;
          if (p.indices[i] == p.padding_idx) continue;
          const T* src = grad + i * width;
          for (int64_t c = 0; c < width; ++c) acc[size_t(c)] += to_float(src[c]);
        }
      }
      T* dst = grad_positions + position * width;
      for (int64_t c = 0; c < width; ++c) dst[c] = from_float<T>(acc[size_t(c)]);
    }
  });
}

}  // namespace

void embedding_forward(const EmbeddingForwardParams& p) {
  check_indices(p.indices, p.count, p.rows);
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    forward_typed<T>(p);
  });
}

void embedding_backward(const EmbeddingBackwardParams& p) {
  check_indices(p.indices, p.count, p.rows);
  visit_dtype(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (!std::is_same_v<T, int32_t>) {
      if (p.grad_table != nullptr) grad_table_typed<T>(p);
      if (p.grad_positions != nullptr) grad_positions_typed<T>(p);
    }
  });
}

}  // namespace cpu
}  // namespace llmrec::kernels

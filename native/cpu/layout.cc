// CPU twin of cuda/layout.cu.
#include <algorithm>

#include "../kernels/layout.h"
#include "parallel.h"

namespace llmrec::kernels::cpu {
namespace {

template <class Word>
void copy_words(const StridedCopyParams& p) {
  const Word* __restrict__ src = static_cast<const Word*>(p.src);
  Word* __restrict__ dst = static_cast<Word*>(p.dst);
  const int last = p.ndim - 1;
  const int64_t inner = p.shape[last];
  const int64_t rows = p.numel / inner;
  const int64_t src_step = p.src_strides[last], dst_step = p.dst_strides[last];
  llmrec::cpu::parallel_for(0, rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      // Row index -> offsets over the outer dimensions.
      int64_t rest = row, src_offset = 0, dst_offset = 0;
      for (int d = last - 1; d >= 0; --d) {
        const int64_t i = rest % p.shape[d];
        rest /= p.shape[d];
        src_offset += i * p.src_strides[d];
        dst_offset += i * p.dst_strides[d];
      }
      const Word* s = src + src_offset;
      Word* o = dst + dst_offset;
      if (src_step == 1 && dst_step == 1) {
        for (int64_t j = 0; j < inner; ++j) o[j] = s[j];
      } else {
        for (int64_t j = 0; j < inner; ++j) o[j * dst_step] = s[j * src_step];
      }
    }
  });
}

}  // namespace

void strided_copy(const StridedCopyParams& p) {
  if (p.numel == 0) return;
  if (dtype_size(p.dtype) == 2)
    copy_words<uint16_t>(p);
  else
    copy_words<uint32_t>(p);
}

}  // namespace llmrec::kernels::cpu

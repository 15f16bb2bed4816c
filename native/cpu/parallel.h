// The CPU twins' thread pool: one per process, sized to the machine (LLMREC_NUM_THREADS
// overrides). The calling thread works too, so a pool of N threads has N-1 workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace llmrec::cpu {

// Number of threads that work on a parallel_for, the caller included.
int num_threads();

// Runs body(chunk_begin, chunk_end) over [begin, end) in chunks of at least `grain` items and
// returns when every chunk is done. Chunks are handed out dynamically, so uneven work balances.
// Nested calls run serially on the calling thread. The first exception a chunk throws is
// rethrown here once all chunks have finished.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& body);

// Splits [0, n) into a fixed number of blocks that does not depend on the thread count, so
// reductions that combine per-block partials in order are bit-for-bit repeatable on any machine.
inline int64_t fixed_block_count(int64_t n, int64_t block) { return (n + block - 1) / block; }

// Waits up to `budget` for `ready()` before the caller falls back to blocking: a kernel launch
// typically follows the previous one within microseconds, and a futex sleep and wake costs
// tens of them.
template <class Ready>
bool spin_until(Ready ready, std::chrono::microseconds budget = std::chrono::microseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  do {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  } while (std::chrono::steady_clock::now() < deadline);
  return ready();
}

}  // namespace llmrec::cpu

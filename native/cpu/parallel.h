// The CPU twins' thread pool: one per process, sized to the machine (LLMREC_NUM_THREADS
// overrides). The calling thread works too, so a pool of N threads has N-1 workers.
#pragma once

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

}  // namespace llmrec::cpu

#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace llmrec::cpu {
namespace {

thread_local bool tls_inside_parallel_region = false;

struct Job {
  const std::function<void(int64_t, int64_t)>* body = nullptr;
  int64_t begin = 0, end = 0, chunk = 1, chunks = 0;
  std::atomic<int64_t> next_chunk{0};
  std::atomic<int64_t> chunks_done{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  void run_chunks() {
    tls_inside_parallel_region = true;
    for (;;) {
      int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) break;
      int64_t lo = begin + c * chunk;
      int64_t hi = std::min(end, lo + chunk);
      try {
        (*body)(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      chunks_done.fetch_add(1, std::memory_order_acq_rel);
    }
    tls_inside_parallel_region = false;
  }
};

int threads_from_environment() {
  if (const char* env = std::getenv("LLMREC_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(hw);
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : size_(threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  int size() const { return size_; }

  void run(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    const int64_t n = end - begin;
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (workers_.empty() || n <= grain || tls_inside_parallel_region) {
      body(begin, end);
      return;
    }
    // One parallel region at a time: several addon instances (worker_threads) share the pool.
    std::lock_guard<std::mutex> region(region_mutex_);
    Job job;
    job.body = &body;
    job.begin = begin;
    job.end = end;
    int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(size_) * 4);
    job.chunk = (n + chunks - 1) / chunks;
    job.chunks = (n + job.chunk - 1) / job.chunk;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    job.run_chunks();
    auto finished = [&] {
      return job.chunks_done.load(std::memory_order_acquire) == job.chunks &&
             workers_inside_.load(std::memory_order_acquire) == 0;
    };
    spin_until(finished);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, finished);
      current_ = nullptr;
    }
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  void worker_loop() {
    uint64_t seen_generation = 0;
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen_generation; });
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ ||
               (current_ != nullptr && generation_.load(std::memory_order_relaxed) != seen_generation);
      });
      if (stopping_) return;
      seen_generation = generation_.load(std::memory_order_relaxed);
      Job* job = current_;
      // Counted under the lock, so the caller cannot retire the job while this worker joins it.
      workers_inside_.fetch_add(1, std::memory_order_acq_rel);
      lock.unlock();
      job->run_chunks();
      lock.lock();
      workers_inside_.fetch_sub(1, std::memory_order_acq_rel);
      done_.notify_all();
    }
  }

  const int size_;
  std::vector<std::thread> workers_;
  std::mutex region_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job* current_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> workers_inside_{0};  // workers inside the current job
  bool stopping_ = false;
};

ThreadPool& pool() {
  // Leaked on purpose: workers must not be joined during static destruction, when an addon
  // instance in another thread may still be running a region.
  static ThreadPool* instance = new ThreadPool(threads_from_environment());
  return *instance;
}

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& body) {
  pool().run(begin, end, grain, body);
}

}  // namespace llmrec::cpu

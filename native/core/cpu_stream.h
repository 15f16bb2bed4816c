// An in-order work queue for the CPU, the twin of a CUDA stream. Ops return as soon as their
// work is queued, so the JS thread never waits on CPU kernels; one executor thread runs the work
// in order and fans each kernel out over the thread pool. Errors raised by queued work are kept
// and thrown at the next synchronisation, as CUDA reports kernel faults.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace llmrec {

class CpuStream {
 public:
  CpuStream();
  ~CpuStream();  // runs what is queued, then joins the executor
  CpuStream(const CpuStream&) = delete;
  CpuStream& operator=(const CpuStream&) = delete;

  // Queues `work`; returns its ticket, which wait() accepts.
  uint64_t enqueue(std::function<void()> work);

  // Blocks until the work with this ticket (and all before it) has run. Does not throw.
  void wait(uint64_t ticket);

  // Blocks until everything queued so far has run, then throws the first error any queued work
  // raised since the last synchronisation (and forgets it).
  void synchronize();

  // Blocks until everything queued so far has run, keeping any deferred error for later.
  void synchronize_quietly();

  // Returns and forgets the first deferred error, or nullptr.
  std::exception_ptr take_error();

  // Forgets the deferred error if it is `error` (it was reported another way).
  void forget_error(const std::exception_ptr& error);

 private:
  void executor_loop();

  std::mutex mutex_;
  std::condition_variable work_ready_, work_done_;
  std::deque<std::function<void()>> queue_;
  uint64_t enqueued_ = 0, completed_ = 0;
  // Written under mutex_; atomic so the executor can spin on them without it.
  std::atomic<uint64_t> enqueued_seen_{0};
  std::atomic<bool> stopping_{false};
  bool executor_sleeping_ = false;  // under mutex_: whether enqueue() must wake it
  std::exception_ptr first_error_;
  std::thread executor_;
};

}  // namespace llmrec

#include "cpu_stream.h"

#include "../cpu/parallel.h"

namespace llmrec {

CpuStream::CpuStream() : executor_([this] { executor_loop(); }) {}

CpuStream::~CpuStream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  executor_.join();
}

uint64_t CpuStream::enqueue(std::function<void()> work) {
  uint64_t ticket;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(work));
    ticket = ++enqueued_;
    enqueued_seen_.store(ticket, std::memory_order_release);
    wake = executor_sleeping_;
  }
  // A busy or spinning executor finds the work itself: no futex wake (a system call, costly in
  // a VM) on the submitting thread.
  if (wake) work_ready_.notify_one();
  return ticket;
}

void CpuStream::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [&] { return completed_ >= ticket; });
}

void CpuStream::synchronize_quietly() {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ticket = enqueued_;
  }
  wait(ticket);
}

void CpuStream::synchronize() {
  synchronize_quietly();
  if (std::exception_ptr error = take_error()) std::rethrow_exception(error);
}

std::exception_ptr CpuStream::take_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::exception_ptr error = first_error_;
  first_error_ = nullptr;
  return error;
}

void CpuStream::forget_error(const std::exception_ptr& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (first_error_ == error) first_error_ = nullptr;
}

void CpuStream::executor_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (queue_.empty() && !stopping_) {
      // Ops come in bursts a few microseconds apart: spin for the next one before sleeping, so
      // that enqueue() rarely has to wake this thread.
      const uint64_t seen = enqueued_;
      lock.unlock();
      cpu::spin_until([&] {
        return enqueued_seen_.load(std::memory_order_acquire) != seen ||
               stopping_.load(std::memory_order_acquire);
      });
      lock.lock();
    }
    executor_sleeping_ = true;
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    executor_sleeping_ = false;
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::exception_ptr error;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    work = nullptr;  // drop captured storages before reporting completion
    lock.lock();
    if (error && !first_error_) first_error_ = error;
    ++completed_;
    work_done_.notify_all();
  }
}

}  // namespace llmrec

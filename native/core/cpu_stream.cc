#include "cpu_stream.h"

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
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(work));
    ticket = ++enqueued_;
  }
  work_ready_.notify_one();
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
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
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

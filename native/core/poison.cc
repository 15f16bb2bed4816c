#include "poison.h"

#include <utility>

#include "../abi/error.h"

namespace llmrec {

namespace {
template <class Tensors>
PoisonFlow classify(const Tensors& touched) {
  PoisonFlow flow;
  for (const Tensor* tensor : touched) {
    if (tensor == nullptr || !tensor->defined()) continue;
    (tensor->storage->produced ? flow.consumed : flow.produced).push_back(tensor->storage->poison());
    tensor->storage->produced = true;
  }
  return flow;
}
}  // namespace

PoisonFlow PoisonFlow::of(std::initializer_list<const Tensor*> touched) { return classify(touched); }
PoisonFlow PoisonFlow::of(const std::vector<const Tensor*>& touched) { return classify(touched); }

std::exception_ptr PoisonFlow::input_error() const {
  for (const auto& input : consumed)
    if (std::exception_ptr error = input->error()) return error;
  return nullptr;
}

void PoisonFlow::poison_outputs(const std::exception_ptr& error) const {
  for (const auto& poison : produced.empty() ? consumed : produced) poison->mark(error);
}

ErrorWindows::ErrorWindows(int slots, Close close) : slots_(slots), close_(std::move(close)) {
  if (slots_ < 1) fail("internal error: an error window needs at least one slot");
  open_.reserve(size_t(slots_));
}

int ErrorWindows::admit(PoisonFlow flow) {
  if (int(open_.size()) == slots_) close();  // may settle finished windows: check inputs after
  if (std::exception_ptr error = flow.input_error()) {
    flow.poison_outputs(error);  // known already: the work would compute garbage from garbage
    return -1;
  }
  open_.push_back(std::move(flow));
  return int(open_.size()) - 1;
}

void ErrorWindows::fail_last(const std::exception_ptr& error) {
  if (!open_.empty()) open_.back().poison_outputs(error);
}

uint64_t ErrorWindows::close() {
  if (open_.empty()) return closed_count_;
  Pending records = close_(int(open_.size()));
  std::vector<PoisonFlow> ops;
  ops.reserve(size_t(slots_));
  std::swap(ops, open_);
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    closed_.push_back(Closed{++closed_count_, std::move(ops), std::move(records)});
  }
  std::unique_lock<std::mutex> resolving(resolve_mutex_, std::try_to_lock);
  if (resolving.owns_lock()) {  // else a read-back is settling them
    for (;;) {
      Closed window;
      {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        if (closed_.empty() || !closed_.front().records.ready()) break;
        window = std::move(closed_.front());
        closed_.pop_front();
      }
      settle(window);
    }
  }
  return closed_count_;
}

void ErrorWindows::resolve_through(uint64_t sequence) {
  std::lock_guard<std::mutex> resolving(resolve_mutex_);
  for (;;) {
    Closed window;
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      if (closed_.empty() || closed_.front().sequence > sequence) return;
      window = std::move(closed_.front());
      closed_.pop_front();
    }
    settle(window);
  }
}

void ErrorWindows::settle(Closed& window) {
  const KernelErrorRecord* records = window.records.wait();
  // In stream order, as the CPU stream settles each op after the ones before it: an op that
  // read a storage spoiled earlier in this window (or in an earlier one) is spoiled too.
  for (size_t i = 0; i < window.ops.size(); ++i) {
    const PoisonFlow& op = window.ops[i];
    if (std::exception_ptr error = op.input_error()) {
      op.poison_outputs(error);  // passed on, not a new error
      continue;
    }
    const KernelErrorRecord& record = records[i];
    if (record.site == 0) continue;
    std::exception_ptr error =
        std::make_exception_ptr(Error(format_kernel_error(record.site, record.value, record.limit)));
    op.poison_outputs(error);
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!first_error_) first_error_ = error;
  }
}

std::exception_ptr ErrorWindows::take_error() {
  std::lock_guard<std::mutex> lock(error_mutex_);
  std::exception_ptr error = first_error_;
  first_error_ = nullptr;
  return error;
}

void ErrorWindows::forget_error(const std::exception_ptr& error) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (first_error_ == error) first_error_ = nullptr;
}

}  // namespace llmrec

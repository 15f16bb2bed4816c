// How a failed op's outputs stay poisoned, on every device. One mechanism: each op's work is
// described by a PoisonFlow (the storages it produces and the ones it reads); when the work
// fails, or reads a poisoned storage, its outputs take the error. Every read of a failed result,
// and of anything computed from it, then throws the original error; unrelated tensors read
// normally.
//
// The CPU stream runs the work itself, so it settles each flow as it goes (dispatch.cc). A CUDA
// kernel cannot throw: it writes a KernelErrorRecord that the host sees only once the stream has
// reached a check. ErrorWindows keeps the flows of the ops queued since the last check, gives
// each op its own record slot (so the error is tied to the op that raised it, not to whatever
// tensor is read next) and settles them in order once the records arrive. It knows nothing of
// CUDA: the device supplies the hook that queues the records' copy, and tests drive it directly.
#pragma once

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <vector>

#include "../abi/kernel_api.h"
#include "storage.h"
#include "tensor.h"

namespace llmrec {

struct PoisonFlow {
  std::vector<std::shared_ptr<Poison>> produced, consumed;

  // Classifies an op's tensors on the JS thread, when the op is submitted: a storage no work has
  // written yet is produced by this op, the others are read (in-place work reads and writes
  // storages that exist already, and then produces none).
  static PoisonFlow of(std::initializer_list<const Tensor*> touched);
  static PoisonFlow of(const std::vector<const Tensor*>& touched);

  // The error of the first poisoned storage the work reads, or nullptr.
  std::exception_ptr input_error() const;

  // The work failed with `error`, or read a poisoned storage: what it produces takes the error
  // (for in-place work, that produces nothing new, every storage it touched).
  void poison_outputs(const std::exception_ptr& error) const;
};

class ErrorWindows {
 public:
  // A closed window's records on their way to the host. wait() blocks until they are there and
  // returns them (one per op, in slot order); it may throw (a sticky device error) and may run on
  // any thread. ready() says, without blocking, whether they are there already.
  struct Pending {
    std::function<const KernelErrorRecord*()> wait;
    std::function<bool()> ready;
  };
  // Queues, in stream order, the copy of the first `count` record slots to the host and their
  // clearing. Called on the JS thread.
  using Close = std::function<Pending(int count)>;

  ErrorWindows(int slots, Close close);
  ErrorWindows(const ErrorWindows&) = delete;
  ErrorWindows& operator=(const ErrorWindows&) = delete;

  int slots() const { return slots_; }

  // JS thread, for each op before its work is queued. Returns the op's record slot, or -1 when
  // the work must not run: it reads a storage already known to be poisoned, and its outputs have
  // taken that error. A full window is closed first (no wait: its records are settled later).
  int admit(PoisonFlow flow);

  // JS thread. The work of the op admitted last threw on the host: its outputs take the error.
  void fail_last(const std::exception_ptr& error);

  // JS thread. Closes the open window (if it holds any op) and returns the sequence number that
  // resolve_through() needs to cover every op admitted so far. Windows whose records have
  // arrived are settled on the way, so a loop that never reads does not pile them up.
  uint64_t close();

  // Any thread. Settles every closed window up to and including `sequence`, oldest first: the
  // outputs of ops whose record slot holds an error, and of ops that read a poisoned storage,
  // take the error. Rethrows what a window's Wait throws.
  void resolve_through(uint64_t sequence);

  // The first error settled since the last take_error() and not reported with a tensor read;
  // thrown by the device's synchronize().
  std::exception_ptr take_error();
  // Forgets the deferred error if it is `error` (it was reported with the tensor it spoiled).
  void forget_error(const std::exception_ptr& error);

 private:
  struct Closed {
    uint64_t sequence = 0;
    std::vector<PoisonFlow> ops;
    Pending records;
  };
  void settle(Closed& window);  // under resolve_mutex_

  const int slots_;
  const Close close_;
  std::vector<PoisonFlow> open_;  // JS thread only
  uint64_t closed_count_ = 0;     // JS thread only
  std::mutex queue_mutex_;
  std::deque<Closed> closed_;
  std::mutex resolve_mutex_;  // one settler at a time, so windows settle in stream order
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
};

}  // namespace llmrec

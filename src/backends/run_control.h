// Stopping a run from the host evaluation: the execution context installs its RunControl on the thread
// that runs it (ScopedRunControl), and long host loops (Loop/Scan/SequenceMap iterations) call
// checkRunControl() and, where a tensor grows with the iterations, read runTensorElementLimit(). Outside a
// run (build-time folding, shape settling) nothing is installed: the check does nothing, there is no limit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/error.h"

namespace kiln::host {

// What stops a run: a cancel request (set from any thread, consumed by the check that stops the run) and a
// deadline (ExecutionContext::cancel / setTimeLimit).
struct RunControl {
  std::atomic<bool>* cancelRequested = nullptr;
  double timeLimitMs = 0;  // 0: no deadline
  std::chrono::steady_clock::time_point deadline;
  int64_t maxTensorElements = 0;  // the plan's limit on one tensor's elements (0: none)

  // Throws kiln::Error(kCancelled) when the run is to stop.
  void check() const {
    if (cancelRequested && cancelRequested->load(std::memory_order_relaxed) && cancelRequested->exchange(false))
      fail(ErrorCode::kCancelled, "run cancelled");
    if (timeLimitMs > 0 && std::chrono::steady_clock::now() > deadline)
      fail(ErrorCode::kCancelled, concat("run stopped after its time limit of ", timeLimitMs, " ms"));
  }
};

// The run control of the run on this thread; nullptr outside a run.
inline const RunControl*& currentRunControl() {
  thread_local const RunControl* control = nullptr;
  return control;
}

// Throws kiln::Error(kCancelled) when the run on this thread has been cancelled or is past its time limit.
inline void checkRunControl() {
  if (const RunControl* control = currentRunControl()) control->check();
}

// The most elements one tensor of the run on this thread may hold; 0 (no limit) outside a run.
inline int64_t runTensorElementLimit() {
  const RunControl* control = currentRunControl();
  return control ? control->maxTensorElements : 0;
}

// Installs a run control on this thread for the scope's life.
class ScopedRunControl {
 public:
  explicit ScopedRunControl(const RunControl& control) : previous_(currentRunControl()) {
    currentRunControl() = &control;
  }
  ~ScopedRunControl() { currentRunControl() = previous_; }
  ScopedRunControl(const ScopedRunControl&) = delete;
  ScopedRunControl& operator=(const ScopedRunControl&) = delete;

 private:
  const RunControl* previous_;
};

}  // namespace kiln::host

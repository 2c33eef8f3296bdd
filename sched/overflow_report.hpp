#pragma once
// Naming the task whose stack overflowed into its guard page (debug mode). A SIGSEGV handler,
// installed once per process, runs on a per-worker alternate stack; if the fault lies in the
// guard page of the fiber the faulting worker runs, it prints the task's name and aborts.
// Any other fault goes to the handler that was there before (or the default action).
#include <memory>

namespace weft::sched {

void install_overflow_handler() noexcept;

// The alternate signal stack of one worker thread, for as long as the worker runs.
class AlternateSignalStack {
 public:
  AlternateSignalStack();
  ~AlternateSignalStack();
  AlternateSignalStack(const AlternateSignalStack&) = delete;
  AlternateSignalStack& operator=(const AlternateSignalStack&) = delete;

 private:
  std::unique_ptr<char[]> memory_;
};

}  // namespace weft::sched

// weft::run's handling of SIGINT and SIGTERM: asyncio.Runner's Ctrl-C handling, plus the
// process exit Python gives an uncaught KeyboardInterrupt.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>

#include <weft/runtime.hpp>

#include "io/signal_registry.hpp"

namespace weft::detail {

struct RunSignalState {
  static constexpr int kSignals[2] = {SIGINT, SIGTERM};

  std::mutex mutex;  // guards main and received
  TaskRef main;
  int received = 0;  // the first signal, or 0
  // Registration ids (0: none); atomic because a handler fiber may remove them while the
  // constructor is still storing the second.
  std::atomic<std::uint64_t> ids[2] = {0, 0};
  // The mask of the thread in run() before watch() blocked the signals there; run()'s thread
  // only, so unguarded.
  sigset_t thread_mask{};
  bool masked = false;

  void remove_handlers() noexcept {
    for (int i = 0; i < 2; ++i)
      if (const std::uint64_t id = ids[i].exchange(0))
        (void)io::remove_signal_handler_if(kSignals[i], id);
  }

  void on_signal(int sig) {
    TaskRef target;
    {
      std::lock_guard guard(mutex);
      if (received != 0) return;
      received = sig;
      target = main;
    }
    // From now on both signals have their default action: a second one ends the process at
    // once, should cleanup hang. (SA_RESETHAND did it already for this one.)
    remove_handlers();
    if (target) cancel(target, sig);
  }

  static void cancel(const TaskRef& target, int sig) {
    (void)target.cancel("interrupted by " + io::signal_name(sig));
  }
};

RunSignals::RunSignals(Runtime& runtime, bool enabled) {
  if (!enabled) return;
  state_ = std::make_shared<RunSignalState>();
  try {
    for (int i = 0; i < 2; ++i) {
      const int sig = RunSignalState::kSignals[i];
      state_->ids[i] = io::add_signal_handler_to(
          &runtime, sig, [state = state_, sig] { state->on_signal(sig); },
          {.one_shot = true, .only_if_default = true}, "weft::run");
    }
  } catch (const std::exception& error) {
    // The program still runs, as it would have without this; only Ctrl-C is not graceful.
    std::fprintf(stderr, "weft: run: SIGINT and SIGTERM keep their default action: %s\n",
                 error.what());
  }
  // A signal handled before the second id was stored left that one installed.
  bool received;
  {
    std::lock_guard guard(state_->mutex);
    received = state_->received != 0;
  }
  if (received) state_->remove_handlers();
}

void RunSignals::watch(const TaskRef& main) {
  if (!state_) return;
  // The thread in run() only waits for main from here on: blocking every asynchronous signal
  // here has the kernel hand them to a worker (it prefers the main thread), for run's own
  // handlers and for those main registers later (add_signal_handler(SIGHUP, ...)). A thread
  // parked in a futex runs weft's tiny handler as well natively, but a sanitizer runtime defers
  // handlers until the thread makes an intercepted call, which this one would not make before
  // main ends. Workers started before this, so they keep their masks.
  sigset_t handled;
  sigfillset(&handled);
  for (const int synchronous : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
    sigdelset(&handled, synchronous);
  state_->masked = pthread_sigmask(SIG_BLOCK, &handled, &state_->thread_mask) == 0;
  std::lock_guard guard(state_->mutex);
  state_->main = main;
  if (state_->received != 0) RunSignalState::cancel(main, state_->received);
}

RunSignals::~RunSignals() {
  if (!state_) return;
  state_->remove_handlers();
  // After the dispositions are back: a signal that came meanwhile acts as it would have.
  if (state_->masked) pthread_sigmask(SIG_SETMASK, &state_->thread_mask, nullptr);
}

void RunSignals::reraise_if_interrupted() noexcept {
  if (!state_) return;
  int sig;
  {
    std::lock_guard guard(state_->mutex);
    sig = state_->received;
  }
  if (sig == 0) return;
  state_->remove_handlers();
  // What Python does at exit after an uncaught KeyboardInterrupt: die of the signal itself, so
  // that the parent (a shell, a supervisor) sees why. Death by a signal skips atexit and stdio's
  // flush at exit, so flush here.
  std::fflush(nullptr);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(sig);
  std::_Exit(128 + sig);  // not reached: the default action of SIGINT and SIGTERM ends us
}

}  // namespace weft::detail

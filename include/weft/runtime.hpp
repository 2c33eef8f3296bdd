#pragma once
// The runtime: worker threads with their run queues, started by a Runtime (for embedding) or by
// weft::run (asyncio.run for main).
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/config.hpp"
#include "weft/export.hpp"
#include "weft/task.hpp"

namespace weft {

// Counters of what a runtime holds right now; a test fixture checks they return to zero.
struct RuntimeStats {
  std::uint64_t live_tasks = 0;     // spawned and not finished
  std::uint64_t live_fibers = 0;    // fibers running a task (started, not finished)
  std::uint64_t cached_fibers = 0;  // idle fibers kept with their stacks for reuse
  std::uint64_t live_blocks = 0;    // task blocks (tasks and promise states) not yet freed
};

// Per worker, since the runtime started.
struct WorkerMetrics {
  unsigned worker = 0;
  std::uint64_t polls = 0;        // tasks switched to (a yield with nothing else to run is not)
  std::uint64_t steals = 0;       // tasks taken from other workers
  std::uint64_t parks = 0;        // times the worker went to sleep
  std::uint64_t queue_depth = 0;  // tasks in its local queues now
  std::uint64_t busy_ns = 0;      // time spent running tasks
};

// What weft reports about a task whose exception was never retrieved.
struct UnretrievedException {
  std::string task_name;
  std::exception_ptr error;
};

namespace detail {
class RuntimeCore;
template <class R>
struct SubmitResult;
}  // namespace detail

class WEFT_API Runtime {
 public:
  // Validates cfg (ConfigError) and starts the workers.
  explicit Runtime(Config cfg = Config::from_env());
  // Same as shutdown() with the default timeout.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Spawns fn as a task of this runtime, from any thread (fiber or not).
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(F&& fn) {
    return detail::spawn_on(this, std::forward<F>(fn), {});
  }
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(std::string_view name, F&& fn) {
    return detail::spawn_on(this, std::forward<F>(fn), {.name = name});
  }
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(TaskOptions options, F&& fn) {
    return detail::spawn_on(this, std::forward<F>(fn), detail::spawn_options(options));
  }

  // Runs fn in a fiber of this runtime and hands its result to a std::future, from any thread
  // (asyncio.run_coroutine_threadsafe). If the task is cancelled (say, by shutdown) the future
  // holds CancelledError.
  template <class F>
  [[nodiscard]] std::future<detail::TaskResultOf<F>> submit(F&& fn) {
    using R = detail::TaskResultOf<F>;
    auto state = std::make_shared<std::promise<R>>();
    std::future<R> result = state->get_future();
    struct Deliver {
      std::shared_ptr<std::promise<R>> state;
      std::decay_t<F> fn;
      bool delivered = false;
      void operator()() {
        try {
          if constexpr (std::is_void_v<R>) {
            fn();
            state->set_value();
          } else {
            state->set_value(fn());
          }
        } catch (...) {
          state->set_exception(std::current_exception());
        }
        delivered = true;
      }
      // A task cancelled before it ran never calls operator(); its future must not hang.
      ~Deliver() {
        if (state && !delivered)
          state->set_exception(
              std::make_exception_ptr(CancelledError("submitted task was cancelled")));
      }
      Deliver(std::shared_ptr<std::promise<R>> s, std::decay_t<F> f)
          : state(std::move(s)), fn(std::move(f)) {}
      Deliver(Deliver&& o) noexcept
          : state(std::move(o.state)), fn(std::move(o.fn)), delivered(o.delivered) {}
    };
    (void)spawn(Deliver(std::move(state), std::forward<F>(fn)));
    return result;
  }

  // Runs fn in a new fiber of this runtime; callable from any thread, including signal-free
  // foreign threads (asyncio's loop.call_soon_threadsafe).
  void call_soon_threadsafe(std::function<void()> fn);

  // Cancels every task, waits up to `timeout` for all of them to finish, then stops and joins
  // the workers. Returns false if some task was still running at the deadline (a fiber that
  // never reaches a suspension point cannot be cancelled; the workers are joined once it ends).
  // Idempotent.
  bool shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  [[nodiscard]] const Config& config() const noexcept;
  // The I/O backend the workers really use (epoll when io_uring was asked for but refused).
  [[nodiscard]] Backend backend() const noexcept;
  [[nodiscard]] RuntimeStats stats() const noexcept;
  [[nodiscard]] std::vector<WorkerMetrics> metrics() const;
  // One line per unfinished task: id, name, state, and what it waits on; in debug mode
  // (Config::debug) each parked task's stack where it parked follows, one frame per line.
  [[nodiscard]] std::string dump_tasks() const;
  // Replaces the default report (a line on stderr) of tasks whose exception nobody retrieved.
  void set_exception_handler(std::function<void(const UnretrievedException&)> handler);

  detail::RuntimeCore& core() noexcept { return *core_; }

 private:
  std::unique_ptr<detail::RuntimeCore> core_;
};

// How weft::run treats SIGINT and SIGTERM (see docs/signals.md).
struct RunOptions {
  // The first SIGINT or SIGTERM cancels the main task: its cleanup runs, the runtime shuts
  // down, and if the main task ended with that CancelledError, run() ends the process by that
  // signal (as Python does for KeyboardInterrupt), so the exit status says "killed by SIGINT"
  // (a shell shows 130; 143 for SIGTERM). A second one kills at once. A signal whose
  // disposition is not SIG_DFL when run() starts (ignored, say, or given its own handler) is
  // left alone, and add_signal_handler from the program replaces run's handler. false: run()
  // touches no signal.
  bool handle_signals = true;
};

namespace detail {
struct RunSignalState;
// weft::run's SIGINT/SIGTERM handling (runtime/run_signals.cpp): installed before the main task
// starts, so that the main task sees them (and replaces them with add_signal_handler), and
// removed by the destructor (or earlier, at shutdown, with the runtime's other handlers).
class WEFT_API RunSignals {
 public:
  RunSignals(Runtime& runtime, bool enabled);
  ~RunSignals();
  RunSignals(const RunSignals&) = delete;
  RunSignals& operator=(const RunSignals&) = delete;
  // The task the first signal cancels (at once, if one came already).
  void watch(const TaskRef& main);
  // Once the runtime has shut down and the main task ended cancelled: if a signal cancelled it,
  // flushes stdio and re-raises that signal with its default disposition (never returns).
  void reraise_if_interrupted() noexcept;

 private:
  std::shared_ptr<RunSignalState> state_;
};
}  // namespace detail

// asyncio.get_running_loop(): the Runtime whose fiber calls it (also inside weft::run), for its
// metrics(), dump_tasks() or spawn(); nullptr outside a fiber (a plain thread, a to_thread job).
[[nodiscard]] WEFT_API Runtime* current_runtime() noexcept;

// asyncio.run: starts a runtime with cfg, runs fn as the main fiber, returns its result (or
// rethrows its exception) after cancelling and joining everything left and stopping workers.
template <class F>
detail::TaskResultOf<F> run(Config cfg, RunOptions options, F&& fn) {
  Runtime runtime(std::move(cfg));
  detail::RunSignals signals(runtime, options.handle_signals);
  Task<detail::TaskResultOf<F>> main = runtime.spawn(std::forward<F>(fn));
  signals.watch(main.ref());
  main.wait();
  runtime.shutdown();
  if (main.cancelled()) signals.reraise_if_interrupted();
  return main.get();
}
template <class F>
detail::TaskResultOf<F> run(Config cfg, F&& fn) {
  return run(std::move(cfg), RunOptions{}, std::forward<F>(fn));
}
template <class F>
detail::TaskResultOf<F> run(F&& fn) {
  return run(Config::from_env(), RunOptions{}, std::forward<F>(fn));
}

}  // namespace weft

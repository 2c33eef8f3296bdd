#include "runtime/runtime_core.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "sched/block_cache.hpp"
#include "sched/current.hpp"

namespace weft::detail {

void ExceptionSink::set(std::function<void(const UnretrievedException&)> handler) {
  std::lock_guard guard(mutex_);
  handler_ = std::move(handler);
}

void ExceptionSink::report(const UnretrievedException& report) noexcept {
  std::function<void(const UnretrievedException&)> handler;
  {
    std::lock_guard guard(mutex_);
    handler = handler_;
  }
  try {
    if (handler) {
      handler(report);
      return;
    }
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(report.error);
    } catch (const std::exception& error) {
      what = error.what();
    } catch (...) {
    }
    std::fprintf(stderr, "weft: exception of task '%s' was never retrieved: %s\n",
                 report.task_name.c_str(), what.c_str());
  } catch (...) {
    std::fputs("weft: the unretrieved-exception handler threw\n", stderr);
  }
}

RuntimeCore::RuntimeCore(const Config& config)
    : registry((config.validate(), config.workers)),
      scheduler_(config, *this),
      blocking_pool_(std::make_shared<sched::BlockingPool>(
          "weft::to_thread", config.blocking_threads, config.blocking_queue_limit,
          std::chrono::milliseconds(config.blocking_keep_alive_ms))),
      cpu_pool_(config.cpu_threads != 0 ? config.cpu_threads : config.workers) {
  scheduler_.start();
}

RuntimeCore::~RuntimeCore() {
  try {
    shutdown(std::chrono::seconds(5));
  } catch (const std::exception& error) {
    // Destroyed from one of its own fibers: the workers cannot be joined from inside, and
    // going on would free memory they still use.
    std::fprintf(stderr, "weft: fatal: %s\n", error.what());
    std::abort();
  }
}

void retire(TaskBlock* task, unsigned worker) noexcept {
  task->runtime->registry.retire(task, worker);
}

bool release_retired(RuntimeCore& runtime, unsigned worker) noexcept {
  return runtime.registry.release_batches(worker);
}

unsigned RuntimeCore::spawn_shard() const noexcept {
  const sched::Worker* worker = scheduler_.own_worker();
  return worker ? worker->index() : registry.outside_shard();
}

bool RuntimeCore::shutdown(std::chrono::milliseconds timeout) {
  std::lock_guard guard(shutdown_mutex_);
  if (stopped()) return clean_shutdown_;
  if (scheduler_.own_worker())
    throw std::logic_error("weft: Runtime::shutdown cannot be called from one of its own fibers");
  closing_.store(true, std::memory_order_release);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Cancel everything, then keep cancelling what is left: a task may swallow one
  // CancelledError and go on waiting, or spawn more while it unwinds.
  auto next_cancel = std::chrono::steady_clock::now();
  while (registry.live() != 0 && std::chrono::steady_clock::now() < deadline) {
    if (std::chrono::steady_clock::now() >= next_cancel) {
      for (const TaskRef& task : registry.snapshot()) task.cancel("the runtime is shutting down");
      next_cancel = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // Queued jobs are dropped; running ones get until the deadline, then their threads are left.
  const bool blocking_done = blocking_pool_->shutdown(deadline) == 0;
  const bool jobs_done = cpu_pool_.shutdown(deadline) == 0 && blocking_done;
  clean_shutdown_ = registry.live() == 0 && jobs_done;
  if (registry.live() != 0) {
    std::fprintf(stderr,
                 "weft: shutdown: %llu task(s) still running after the timeout; joining the "
                 "workers once they reach a suspension point\n%s",
                 static_cast<unsigned long long>(registry.live()), dump_tasks().c_str());
    // Keep cancelling until they are gone: a fiber that never suspends cannot be stopped.
    while (registry.live() != 0) {
      for (const TaskRef& task : registry.snapshot()) task.cancel("the runtime is shutting down");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  scheduler_.stop();  // each worker lets go of its retired batches as it stops
  stopped_.store(true, std::memory_order_release);
  return clean_shutdown_;
}

RuntimeStats RuntimeCore::stats() const noexcept {
  RuntimeStats stats;
  stats.live_tasks = registry.live();
  stats.cached_fibers = scheduler_.cached_fibers();
  stats.live_fibers = scheduler_.live_fibers() - stats.cached_fibers;
  stats.live_blocks = static_cast<std::uint64_t>(sched::live_block_memory());
  return stats;
}

std::vector<WorkerMetrics> RuntimeCore::metrics() const {
  std::vector<WorkerMetrics> all;
  for (const auto& worker : scheduler_.workers) {
    const auto& c = worker->counters;
    all.push_back({.worker = worker->index(),
                   .polls = c.polls.load(std::memory_order_relaxed),
                   .steals = c.steals.load(std::memory_order_relaxed),
                   .parks = c.parks.load(std::memory_order_relaxed),
                   .queue_depth = worker->queued(),
                   .busy_ns = c.busy_ns.load(std::memory_order_relaxed)});
  }
  return all;
}

std::string RuntimeCore::dump_tasks() const {
  std::ostringstream out;
  const bool traced = scheduler_.config.debug;
  const std::vector<TaskRef> tasks = registry.snapshot();
  for (const TaskRef& task : tasks) {
    TaskBlock* block = task.block();
    const char* waiting = block->waiting_on.load(std::memory_order_relaxed);
    const char* state = !block->has(kStarted) ? "pending" : waiting ? "parked" : "running";
    out << "  #" << block->id << " " << task.name() << " [" << state << "]";
    if (waiting) out << " waiting on " << waiting;
    out << "\n";
    if (waiting && traced) out << park_trace_text(block, "      ");
  }
  if (!traced && !tasks.empty())
    out << "  (stack traces of parked tasks are recorded in debug mode: Config::debug, "
           "WEFT_DEBUG=1)\n";
  return out.str();
}

}  // namespace weft::detail

#pragma once
// What a Runtime is made of: its scheduler (workers and queues), its task registry, and the
// sink for never-retrieved task exceptions.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include <weft/runtime.hpp>

#include "runtime/task_registry.hpp"
#include "sched/blocking_pool.hpp"
#include "sched/cpu_pool.hpp"
#include "sched/scheduler.hpp"

namespace weft::detail {

// Shared with failed tasks so their report still works if they outlive the runtime.
class ExceptionSink {
 public:
  void set(std::function<void(const UnretrievedException&)> handler);
  void report(const UnretrievedException& report) noexcept;

 private:
  std::mutex mutex_;  // guards handler_
  std::function<void(const UnretrievedException&)> handler_;
};

class RuntimeCore {
 public:
  explicit RuntimeCore(const Config& config);
  ~RuntimeCore();

  [[nodiscard]] sched::Scheduler& scheduler() noexcept { return scheduler_; }
  // The public object this core belongs to (current_runtime()); set by Runtime's constructor,
  // before any task of the user's can run.
  Runtime* handle = nullptr;
  [[nodiscard]] const Config& config() const noexcept { return scheduler_.config; }
  [[nodiscard]] Backend backend() const noexcept {
    return scheduler_.workers.front()->reactor().backend();
  }
  // The registry shard for a task spawned from the calling thread.
  [[nodiscard]] unsigned spawn_shard() const noexcept;
  [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }
  [[nodiscard]] bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }
  bool shutdown(std::chrono::milliseconds timeout);
  [[nodiscard]] sched::BlockingPool& blocking_pool() noexcept { return *blocking_pool_; }
  [[nodiscard]] sched::CpuPool& cpu_pool() noexcept { return cpu_pool_; }

  RuntimeStats stats() const noexcept;
  std::vector<WorkerMetrics> metrics() const;
  std::string dump_tasks() const;

  TaskRegistry registry;
  std::shared_ptr<ExceptionSink> sink = std::make_shared<ExceptionSink>();

 private:
  sched::Scheduler scheduler_;
  // Shared with its threads, which may outlive the runtime if a job is stuck.
  std::shared_ptr<sched::BlockingPool> blocking_pool_;
  sched::CpuPool cpu_pool_;
  std::mutex shutdown_mutex_;  // serialises shutdown()
  std::atomic<bool> closing_{false};
  std::atomic<bool> stopped_{false};
  bool clean_shutdown_ = true;
};

}  // namespace weft::detail

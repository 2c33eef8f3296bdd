// weft::Runtime: the public face of RuntimeCore.
#include <weft/runtime.hpp>

#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/scheduler.hpp"

namespace weft {

Runtime::Runtime(Config cfg) : core_(std::make_unique<detail::RuntimeCore>(cfg)) {
  core_->handle = this;
}

Runtime* current_runtime() noexcept {
  sched::Worker* worker = sched::current_worker();
  return worker ? worker->scheduler().owner.handle : nullptr;
}

Runtime::~Runtime() = default;  // RuntimeCore's destructor shuts down

void Runtime::call_soon_threadsafe(std::function<void()> fn) {
  (void)spawn(std::move(fn));
}

bool Runtime::shutdown(std::chrono::milliseconds timeout) {
  return core_->shutdown(timeout);
}

const Config& Runtime::config() const noexcept {
  return core_->config();
}

Backend Runtime::backend() const noexcept {
  return core_->backend();
}

RuntimeStats Runtime::stats() const noexcept {
  return core_->stats();
}

std::vector<WorkerMetrics> Runtime::metrics() const {
  return core_->metrics();
}

std::string Runtime::dump_tasks() const {
  return core_->dump_tasks();
}

void Runtime::set_exception_handler(std::function<void(const UnretrievedException&)> handler) {
  core_->sink->set(std::move(handler));
}

}  // namespace weft

// The hand-off between a Generator's consumer and its body (weft/generator.hpp). Each side
// parks on its own waiter; the lock orders the item slot (written by the body before
// generator_yield, read by the consumer after generator_next) between them.
#include <exception>
#include <mutex>
#include <utility>

#include <weft/errors.hpp>
#include <weft/generator.hpp>

#include "io/clock.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"
#include "sync/spin_lock.hpp"

namespace weft::detail {

class GeneratorCore {
 public:
  sync::SpinLock lock;
  sched::Waiter* consumer = nullptr;  // parked in generator_next
  sched::Waiter* body = nullptr;      // parked in generator_yield
  bool has_item = false;
  bool finished = false;
  bool closing = false;  // generator_close(): every yield is a cancellation from now on
  std::exception_ptr error;
};

namespace {

TaskBlock* fiber_task(const char* what) {
  return sched::fiber_worker(what).current_task();
}

// Parks the consumer until the body has yielded or finished. Returns false if the consumer was
// cancelled first.
bool await_body(GeneratorCore& core, TaskBlock* self, sched::Cancellable cancellable) {
  for (;;) {
    sched::Waiter waiter(self);
    {
      std::lock_guard guard(core.lock);
      if (core.has_item || core.finished) return true;
      core.consumer = &waiter;
    }
    const sched::WakeReason why =
        io::park_until(waiter, "awaiting a generator's next item", io::kNoDeadline, cancellable);
    {
      std::lock_guard guard(core.lock);  // also waits out the body firing us
      core.consumer = nullptr;
    }
    if (why == sched::WakeReason::cancelled) return false;
  }
}

}  // namespace

GeneratorCore* make_generator_core() {
  return new GeneratorCore();  // NOLINT(cppcoreguidelines-owning-memory): owned by its State
}

void destroy_generator_core(GeneratorCore* core) noexcept {
  delete core;  // NOLINT(cppcoreguidelines-owning-memory)
}

bool generator_next(GeneratorCore* core, TaskBlock* body_task) {
  TaskBlock* self = fiber_task("weft::Generator::next()");
  {
    std::lock_guard guard(core->lock);
    // An item yielded while the consumer was being cancelled is still due.
    if (std::exchange(core->has_item, false)) return true;
    // The body waits for this request at its last yield (not at all before its first item).
    if (sched::Waiter* body = std::exchange(core->body, nullptr))
      body->fire(sched::WakeReason::notified);
  }
  if (!await_body(*core, self, sched::Cancellable::yes)) {
    // As if the body ran inside the consumer (Python's async generators do): the consumer's
    // cancellation is the body's too.
    // Wait for the body to end, not for an item: a body cancelled before it ever ran never
    // reaches generator_finish. An item it yielded first stays for the next call.
    generator_close(core, body_task, cancel_message_of(self));
    throw_cancelled(self);
  }
  std::lock_guard guard(core->lock);
  if (std::exchange(core->has_item, false)) return true;
  if (core->error) std::rethrow_exception(std::exchange(core->error, nullptr));
  return false;
}

void generator_yield(GeneratorCore* core) {
  TaskBlock* self = fiber_task("weft::Yield");
  sched::Waiter waiter(self);
  bool closing;
  {
    std::lock_guard guard(core->lock);
    core->has_item = true;  // kept for a later next() even if closing (see generator_next)
    closing = core->closing;
    if (!closing) {
      core->body = &waiter;
      if (core->consumer) core->consumer->fire(sched::WakeReason::notified);
    }
  }
  // Nobody will ask for another item: whatever the body did with the cancellation that closed
  // it, this yield is one.
  if (closing) throw_cancelled(self);
  const sched::WakeReason why = io::park_until(waiter,
                                               "a generator waiting to be asked for its "
                                               "next item",
                                               io::kNoDeadline);
  {
    std::lock_guard guard(core->lock);  // waits out a consumer firing us
    if (core->body == &waiter) core->body = nullptr;
  }
  if (why == sched::WakeReason::cancelled) throw_cancelled(self);
}

void generator_close(GeneratorCore* core, TaskBlock* body_task, std::string_view message) noexcept {
  {
    std::lock_guard guard(core->lock);
    core->closing = true;  // before the cancel: the body's next yield must see it
  }
  request_cancel(body_task, message, false);
  await_done_uncancellable(body_task);
}

void generator_finish(GeneratorCore* core, std::exception_ptr error) noexcept {
  std::lock_guard guard(core->lock);
  core->finished = true;
  core->error = std::move(error);
  if (core->consumer) core->consumer->fire(sched::WakeReason::notified);
}

}  // namespace weft::detail

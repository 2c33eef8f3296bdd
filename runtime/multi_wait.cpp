// Waiting on many task blocks at once (gather, wait, as_completed). The waiting fiber hangs one
// relay waiter on each block's done list; a block's completion runs the relay (under that
// block's lock), which counts it and fires the fiber's own waiter once the condition holds. So
// the fiber is woken once, however many blocks finish.
//
// A relay's last act is to set its link's `finished`; the fiber takes down a link that has not
// finished through the block's lock (WaitList::leave), which also waits out a relay running.
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <weft/detail/multi_wait.hpp>
#include <weft/errors.hpp>

#include "io/clock.hpp"
#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/waiter.hpp"
#include "sched/worker.hpp"
#include "sync/spin_lock.hpp"

namespace weft::detail {
namespace {

struct MultiWait;

struct Link final : sched::Waiter {
  static void relay(sched::Waiter& waiter, sched::WakeReason why) noexcept;
  Link() noexcept : sched::Waiter(nullptr, &relay) {}
  MultiWait* owner = nullptr;
  std::size_t index = 0;
  bool registered = false;
  std::atomic<bool> finished{false};
};

bool meets(WaitUntil until, const TaskBlock* block) noexcept {
  switch (until) {
    case WaitUntil::first_done:
      return true;
    case WaitUntil::first_error:
      return block->has(kFailed);
    case WaitUntil::first_failure:
      return block->has(kFailed) || block->has(kCancelled);
    case WaitUntil::all_done:
      return false;
  }
  return false;
}

struct MultiWait {
  MultiWait(TaskBlock* self, TaskBlock* const* b, std::size_t count, WaitUntil u) noexcept
      : blocks(b), until(u), remaining(count), main(self) {}

  // One more block is done; true if that meets the condition (then `trigger` names it).
  bool count_done(std::size_t index) noexcept {
    bool met = meets(until, blocks[index]);
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) met = true;
    if (met) {
      std::size_t none = SIZE_MAX;
      trigger.compare_exchange_strong(none, index, std::memory_order_acq_rel);
    }
    return met;
  }

  TaskBlock* const* blocks;
  WaitUntil until;
  std::atomic<std::size_t> remaining;
  std::atomic<std::size_t> trigger{SIZE_MAX};
  sched::Waiter main;
};

void Link::relay(sched::Waiter& waiter, sched::WakeReason) noexcept {
  auto& link = static_cast<Link&>(waiter);
  MultiWait& wait = *link.owner;
  if (wait.count_done(link.index)) wait.main.fire(sched::WakeReason::notified);
  link.finished.store(true, std::memory_order_release);  // last touch (see the file comment)
}

void take_down(TaskBlock* const* blocks, Link* links, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (links[i].registered && !links[i].finished.load(std::memory_order_acquire))
      blocks[i]->done_waiters.leave(links[i]);
  }
}

// Hangs `link` on the block's done list unless the block is done already (then false).
bool hang_on(TaskBlock* block, sched::Waiter& link) noexcept {
  std::lock_guard guard(block->done_waiters.lock());
  if (block->has(kDone)) return false;
  block->done_waiters.push_back(link);
  return true;
}

TaskBlock* waiting_task(const char* what) {
  return sched::fiber_worker(what).current_task();
}

}  // namespace

MultiWaitResult wait_blocks(TaskBlock* const* blocks, std::size_t count, WaitUntil until,
                            std::uint64_t deadline_ns, OnCancel on_cancel) {
  TaskBlock* self = waiting_task("weft::gather/wait");
  // Fast path: decided by blocks already done, without hanging anything anywhere.
  {
    std::size_t done = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!blocks[i]->has(kDone)) continue;
      ++done;
      if (meets(until, blocks[i])) return {true, i};
    }
    if (done == count) return {true, SIZE_MAX};
  }
  MultiWait wait(self, blocks, count, until);
  std::unique_ptr<Link[]> links = std::make_unique<Link[]>(count);
  bool met = false;
  for (std::size_t i = 0; i < count && !met; ++i) {
    Link& link = links[i];
    link.owner = &wait;
    link.index = i;
    link.registered = hang_on(blocks[i], link);
    if (!link.registered) met = wait.count_done(i);
  }
  sched::WakeReason why;
  if (met) {
    // Decided while hanging links: if a relay fired our waiter first, park to take its wake-up.
    why = wait.main.claim(sched::WakeReason::notified)
              ? sched::WakeReason::notified
              : sched::park(wait.main, "gathering tasks", sched::Cancellable::no);
  } else {
    why = io::park_until(wait.main, "gathering tasks", deadline_ns);
  }
  take_down(blocks, links.get(), count);
  if (why == sched::WakeReason::cancelled) {
    if (on_cancel == OnCancel::cancel_all) {
      const std::string message = cancel_message_of(self);
      for (std::size_t i = 0; i < count; ++i) request_cancel(blocks[i], message, false);
      for (std::size_t i = 0; i < count; ++i) await_done_uncancellable(blocks[i]);
    }
    throw_cancelled(self);
  }
  if (why == sched::WakeReason::timed_out) return {false, SIZE_MAX};
  return {true, wait.trigger.load(std::memory_order_acquire)};
}

// --- as_completed ---

class CompletionOrder {
 public:
  struct OrderLink final : sched::Waiter {
    static void relay(sched::Waiter& waiter, sched::WakeReason) noexcept {
      auto& link = static_cast<OrderLink&>(waiter);
      link.owner->arrive(link.index);
      link.finished.store(true, std::memory_order_release);  // last touch
    }
    OrderLink() noexcept : sched::Waiter(nullptr, &relay) {}
    CompletionOrder* owner = nullptr;
    std::size_t index = 0;
    bool registered = false;
    std::atomic<bool> finished{false};
  };

  CompletionOrder(TaskBlock* const* blocks, std::size_t count)
      : blocks_(blocks, blocks + count), links_(std::make_unique<OrderLink[]>(count)) {
    arrived_.reserve(count);  // arrive() never allocates under the lock
    for (TaskBlock* block : blocks_) retain(block);
    for (std::size_t i = 0; i < count; ++i) {
      OrderLink& link = links_[i];
      link.owner = this;
      link.index = i;
      link.registered = hang_on(blocks_[i], link);
      if (!link.registered) arrive(i);
    }
  }
  CompletionOrder(const CompletionOrder&) = delete;
  CompletionOrder& operator=(const CompletionOrder&) = delete;

  ~CompletionOrder() {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      if (links_[i].registered && !links_[i].finished.load(std::memory_order_acquire))
        blocks_[i]->done_waiters.leave(links_[i]);
    }
    {
      std::lock_guard guard(lock_);  // waits out an arrive() still firing our waiter
    }
    for (TaskBlock* block : blocks_) release(block);
  }

  std::size_t next(std::uint64_t deadline_ns) {
    TaskBlock* self = waiting_task("weft::as_completed");
    for (;;) {
      sched::Waiter waiter(self);
      {
        std::lock_guard guard(lock_);
        if (read_ < arrived_.size()) return arrived_[read_++];
        if (read_ == blocks_.size())
          throw InvalidStateError("weft::as_completed: every task has been handed out");
        consumer_ = &waiter;
      }
      const sched::WakeReason why =
          io::park_until(waiter, "awaiting the next of as_completed", deadline_ns);
      {
        std::lock_guard guard(lock_);
        consumer_ = nullptr;
      }
      if (why == sched::WakeReason::cancelled) throw_cancelled(self);
      if (why == sched::WakeReason::timed_out) {
        std::lock_guard guard(lock_);
        if (read_ < arrived_.size()) return arrived_[read_++];  // came just in time
        throw TimeoutError("weft::as_completed: the timeout passed with " +
                           std::to_string(blocks_.size() - read_) + " task(s) unfinished");
      }
    }
  }

 private:
  void arrive(std::size_t index) noexcept {
    std::lock_guard guard(lock_);
    arrived_.push_back(index);
    if (consumer_) consumer_->fire(sched::WakeReason::notified);
  }

  std::vector<TaskBlock*> blocks_;
  std::unique_ptr<OrderLink[]> links_;
  sync::SpinLock lock_;  // guards arrived_, read_, consumer_; taken after a block's lock
  std::vector<std::size_t> arrived_;
  std::size_t read_ = 0;
  sched::Waiter* consumer_ = nullptr;
};

CompletionOrder* watch_completion(TaskBlock* const* blocks, std::size_t count) {
  return new CompletionOrder(blocks, count);  // NOLINT(cppcoreguidelines-owning-memory)
}

std::size_t next_completed(CompletionOrder* order, std::uint64_t deadline_ns) {
  return order->next(deadline_ns);
}

void unwatch_completion(CompletionOrder* order) noexcept {
  delete order;  // NOLINT(cppcoreguidelines-owning-memory)
}

}  // namespace weft::detail

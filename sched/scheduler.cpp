#include "sched/scheduler.hpp"

#include <pthread.h>

#include <array>
#include <cstdio>
#include <span>
#include <string>
#include <utility>

#include "sched/current.hpp"
#include "sched/overflow_report.hpp"

namespace weft::sched {

SwitchSide thread_switch_side() noexcept {
  SwitchSide side;
  pthread_attr_t attributes;
  if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
    void* bottom = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attributes, &bottom, &size);
    side.stack_bottom = bottom;
    side.stack_size = size;
    pthread_attr_destroy(&attributes);
  }
  side.tsan_fiber = tsan_current_fiber();
  return side;
}

Scheduler::Scheduler(const Config& cfg, detail::RuntimeCore& runtime)
    : config(cfg), owner(runtime), idle(cfg.workers), policy(make_random_half_policy(cfg)) {
  workers.reserve(cfg.workers);
  // Workers give whole batches: this many fit the budget (give_fiber_batch never grows it).
  shared_batches_.reserve(cfg.stack_cache / Worker::kFiberBatch + 1);
  Backend backend = cfg.backend;
  for (unsigned i = 0; i < cfg.workers; ++i) {
    std::string warning;
    auto reactor = io::make_reactor(backend, io_slots, warning);
    // One warning per runtime: the first worker finds out, the others take epoll directly.
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    backend = reactor->backend();
    workers.push_back(std::make_unique<Worker>(*this, i, std::move(reactor)));
    idle.attach(i, workers.back()->reactor());
  }
}

Scheduler::~Scheduler() {
  stop();
  SwitchSide here = thread_switch_side();
  for (const FiberBatch& batch : shared_batches_) destroy_fibers(batch.first, here);
  shared_batches_.clear();
  shared_count_ = 0;
  ended_stacks.drain();
}

void Scheduler::start() {
  if (config.debug) install_overflow_handler();
  for (auto& worker : workers) worker->start();
}

void Scheduler::stop() {
  stopping_.store(true, std::memory_order_release);
  idle.notify_all();
  for (auto& worker : workers) worker->join();
  ended_stacks.drain();  // the stacks of the fibers the workers dropped as they left
}

Worker* Scheduler::own_worker() const noexcept {
  Worker* worker = current_worker();
  return worker && &worker->scheduler() == this ? worker : nullptr;
}

void Scheduler::schedule(detail::TaskBlock* task) {
  if (Worker* worker = own_worker())
    worker->push_next(task);
  else
    inject(task);
}

void Scheduler::inject(detail::TaskBlock* task) {
  injection.push(task);
  idle.notify_one();
}

bool Scheduler::has_visible_work() const noexcept {
  if (!injection.empty() || !resumed.empty()) return true;
  for (const auto& worker : workers)
    if (worker->has_stealable_work()) return true;
  return false;
}

Fiber* Scheduler::take_fiber_batch(std::size_t& taken) noexcept {
  std::lock_guard guard(shared_lock_);
  if (shared_batches_.empty()) {
    taken = 0;
    return nullptr;
  }
  const FiberBatch batch = shared_batches_.back();
  shared_batches_.pop_back();
  shared_count_ -= batch.count;
  taken = batch.count;
  return batch.first;
}

void Scheduler::give_fiber_batch(Fiber* first, std::size_t count, SwitchSide& caller) noexcept {
  {
    std::lock_guard guard(shared_lock_);
    if (shared_count_ + count <= config.stack_cache &&
        shared_batches_.size() < shared_batches_.capacity()) {
      shared_batches_.push_back({first, count});
      shared_count_ += count;
      return;
    }
  }
  destroy_fibers(first, caller);  // over the budget
}

Fiber* Scheduler::new_fiber(StackPool& stacks) {
  Fiber* fiber = Fiber::create(stacks);
  fibers_created_.fetch_add(1, std::memory_order_relaxed);
  return fiber;
}

void Scheduler::destroy_fibers(Fiber* first, SwitchSide& caller) noexcept {
  std::array<Stack, StackUnmapQueue::kMaxPush> stacks;
  std::size_t count = 0;
  std::uint64_t destroyed = 0;
  while (first) {
    Fiber* next = first->next_idle;
    stacks[count++] = Fiber::end(first, caller);
    ++destroyed;
    if (count == stacks.size())
      ended_stacks.push(std::span(stacks.data(), std::exchange(count, 0)));
    first = next;
  }
  ended_stacks.push(std::span(stacks.data(), count));
  fibers_destroyed_.fetch_add(destroyed, std::memory_order_relaxed);
}

std::uint64_t Scheduler::live_fibers() const noexcept {
  return fibers_created_.load(std::memory_order_relaxed) -
         fibers_destroyed_.load(std::memory_order_relaxed);
}

std::uint64_t Scheduler::cached_fibers() const noexcept {
  std::uint64_t total = 0;
  for (const auto& worker : workers) total += worker->cached_fibers();
  std::lock_guard guard(shared_lock_);
  return total + shared_count_;
}

}  // namespace weft::sched

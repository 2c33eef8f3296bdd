#include "sched/idle_workers.hpp"

#include <algorithm>

#include "io/reactor.hpp"

namespace weft::sched {

IdleWorkers::IdleWorkers(unsigned workers) : workers_(workers), reactors_(workers, nullptr) {
  sleepers_.reserve(workers);
}

void IdleWorkers::notify_one() noexcept {
  // An RMW, not a load: it is the producer's half of the pairing described in the header.
  const std::uint64_t state = state_.fetch_add(0, std::memory_order_seq_cst);
  if (searchers_in(state) != 0 || sleepers_in(state) == 0) return;
  unsigned index;
  {
    std::lock_guard guard(mutex_);
    if (sleepers_.empty()) return;
    index = sleepers_.back();
    sleepers_.pop_back();
    state_.fetch_sub(kOneSleeper, std::memory_order_relaxed);
  }
  reactors_[index]->unpark();
}

void IdleWorkers::notify_all() noexcept {
  {
    std::lock_guard guard(mutex_);
    state_.fetch_sub(sleepers_.size() * kOneSleeper, std::memory_order_relaxed);
    sleepers_.clear();
  }
  for (io::Reactor* reactor : reactors_) reactor->unpark();
}

bool IdleWorkers::begin_search() noexcept {
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  do {
    if (2 * searchers_in(state) >= std::max(workers_, 2u)) return false;
  } while (!state_.compare_exchange_weak(state, state + kOneSearcher, std::memory_order_acq_rel));
  return true;
}

bool IdleWorkers::end_search() noexcept {
  return searchers_in(state_.fetch_sub(kOneSearcher, std::memory_order_acq_rel)) == 1;
}

void IdleWorkers::announce_sleep(unsigned index, bool was_searching) noexcept {
  {
    std::lock_guard guard(mutex_);
    sleepers_.push_back(index);
  }
  // The sleeper's half of the pairing: one RMW counts it as sleeping (and no longer
  // searching); the caller re-checks the queues next.
  const std::uint64_t delta = was_searching ? kOneSleeper - kOneSearcher : kOneSleeper;
  state_.fetch_add(delta, std::memory_order_seq_cst);
}

void IdleWorkers::cancel_sleep(unsigned index) noexcept {
  std::lock_guard guard(mutex_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), index);
  if (it != sleepers_.end()) {
    sleepers_.erase(it);
    state_.fetch_sub(kOneSleeper, std::memory_order_relaxed);
  }
  // Not found: a producer already took us off the list and unparks us; the token it leaves
  // makes our next park return at once, which only costs one extra look at the queues.
}

}  // namespace weft::sched

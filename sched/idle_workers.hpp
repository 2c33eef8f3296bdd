#pragma once
// Which workers are asleep, and the protocol that guarantees no lost wake-up. The counts of
// searching and sleeping workers share one atomic word, and both sides go through a
// read-modify-write of it:
//   a producer makes work visible, then reads the word with an RMW and wakes one sleeper if
//   nobody is searching (a searcher will find the work itself);
//   a worker about to sleep puts itself on the sleeper list, counts itself with an RMW (and
//   stops counting as a searcher), then re-checks every queue before it blocks.
// RMWs of one word are totally ordered: if the producer's comes second it sees the sleeper; if
// the sleeper's comes second it reads the producer's (release) write and so sees the work. No
// standalone fences, which ThreadSanitizer cannot follow. A searcher that finds work while it
// is the last searcher wakes another worker, so parallelism ramps up (tokio's idle.rs does the
// same).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace weft::io {
class Reactor;
}

namespace weft::sched {

class IdleWorkers {
 public:
  explicit IdleWorkers(unsigned workers);
  // A worker sleeps in its reactor; notify_one() wakes it through reactor.unpark().
  void attach(unsigned index, io::Reactor& reactor) noexcept { reactors_[index] = &reactor; }

  // Producer side, after pushing work.
  void notify_one() noexcept;
  void notify_all() noexcept;

  // Worker side. Only up to half of the workers search at once (contention on victims' queues).
  [[nodiscard]] bool begin_search() noexcept;
  // Returns true if it was the last searcher (then the caller, having found work, notifies).
  bool end_search() noexcept;
  // Registers worker `index` as a sleeper (ending its search if it was searching). The caller
  // then re-checks for work: cancel_sleep() if it found some, else it parks in its reactor and
  // calls cancel_sleep() once it wakes (a timer or I/O may wake it while still listed).
  void announce_sleep(unsigned index, bool was_searching) noexcept;
  void cancel_sleep(unsigned index) noexcept;

  [[nodiscard]] unsigned sleeping() const noexcept {
    return sleepers_in(state_.load(std::memory_order_relaxed));
  }

 private:
  // state_: searchers in the high half, sleepers in the low half.
  static constexpr std::uint64_t kOneSleeper = 1;
  static constexpr std::uint64_t kOneSearcher = std::uint64_t{1} << 32;
  static unsigned sleepers_in(std::uint64_t state) noexcept {
    return static_cast<unsigned>(state & 0xffffffffu);
  }
  static unsigned searchers_in(std::uint64_t state) noexcept {
    return static_cast<unsigned>(state >> 32);
  }

  unsigned workers_;
  std::atomic<std::uint64_t> state_{0};
  std::mutex mutex_;  // guards sleepers_
  std::vector<unsigned> sleepers_;
  std::vector<io::Reactor*> reactors_;
};

}  // namespace weft::sched

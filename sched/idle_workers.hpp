#pragma once
// Which workers are asleep, and the protocol that guarantees no lost wake-up:
//   a producer makes work visible, then (seq_cst fence) checks for sleepers and wakes one if no
//   worker is searching (a searcher will find the work itself);
//   a worker about to sleep registers as a sleeper (and stops searching), then (seq_cst fence)
//   re-checks every queue before it blocks.
// Whichever fence comes second sees the other side's write (Dekker), so either the producer
// wakes someone or the sleeper sees the work. A searcher that finds work while it is the last
// searcher wakes another worker, so parallelism ramps up (tokio's idle.rs does the same).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace weft::sched {

// A worker's sleep: a futex word. The reactor issue replaces it with a wait in epoll/io_uring.
class Parker {
 public:
  void park() noexcept;    // returns after unpark() (or spuriously)
  void unpark() noexcept;  // any thread

 private:
  std::atomic<std::uint32_t> token_{0};
};

class IdleWorkers {
 public:
  explicit IdleWorkers(unsigned workers);

  // Producer side, after pushing work.
  void notify_one() noexcept;
  void notify_all() noexcept;

  // Worker side. Only up to half of the workers search at once (contention on victims' queues).
  [[nodiscard]] bool begin_search() noexcept;
  // Returns true if it was the last searcher (then the caller, having found work, notifies).
  bool end_search() noexcept;
  // Registers worker `index` as a sleeper (ending its search if it was searching). The caller
  // then re-checks for work: cancel_sleep() if it found some, else sleep().
  void announce_sleep(unsigned index, bool was_searching) noexcept;
  void cancel_sleep(unsigned index) noexcept;
  void sleep(unsigned index) noexcept;

  [[nodiscard]] unsigned sleeping() const noexcept {
    return sleeping_.load(std::memory_order_relaxed);
  }

 private:
  unsigned workers_;
  std::atomic<unsigned> searching_{0};
  std::atomic<unsigned> sleeping_{0};
  std::mutex mutex_;  // guards sleepers_
  std::vector<unsigned> sleepers_;
  std::unique_ptr<Parker[]> parkers_;
};

}  // namespace weft::sched

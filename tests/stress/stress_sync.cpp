// Sync primitives under load: 4 workers on however many cores, many fibers, random timing, and
// cancellations at every point of a wait. Invariants are counted, not timed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::scaled;
using weft_test::with_runtimes;

namespace {

// Runs fn as the main fiber of a 4-worker runtime.
template <class Fn>
void on_four_workers(Fn fn) {
  with_runtimes([&](weft::Runtime& runtime) { runtime.submit(fn).get(); }, {4});
}

// Item = producer << 32 | sequence.
constexpr std::uint64_t item_of(std::uint64_t producer, std::uint64_t seq) {
  return producer << 32 | seq;
}

// Every item received once; each consumer saw each producer's items in order when `ordered`.
void check_delivery(const std::vector<std::vector<std::uint64_t>>& received,
                    std::uint64_t producers, std::uint64_t per_producer, bool ordered) {
  std::vector<std::uint64_t> all;
  for (const auto& mine : received) {
    if (ordered) {
      std::vector<std::int64_t> last(producers, -1);
      for (std::uint64_t item : mine) {
        const auto p = item >> 32;
        const auto seq = static_cast<std::int64_t>(item & 0xffffffff);
        CHECK(seq > last[p]);
        last[p] = seq;
      }
    }
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(all.size() == producers * per_producer);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // no duplicate
}

template <class Q>
void queue_round_trip(bool ordered) {
  on_four_workers([ordered] {
    constexpr std::uint64_t kProducers = 4;
    constexpr std::uint64_t kConsumers = 4;
    const std::uint64_t per_producer = scaled(20'000);
    Q q(8);
    std::vector<weft::Task<void>> producers;
    for (std::uint64_t p = 0; p < kProducers; ++p)
      producers.push_back(weft::spawn([&q, p, per_producer] {
        for (std::uint64_t i = 0; i < per_producer; ++i) q.put(item_of(p, i));
      }));
    std::vector<std::vector<std::uint64_t>> received(kConsumers);
    std::vector<weft::Task<void>> consumers;
    for (std::uint64_t c = 0; c < kConsumers; ++c)
      consumers.push_back(weft::spawn([&q, &received, c] {
        for (;;) {
          try {
            received[c].push_back(q.get());
          } catch (const weft::QueueShutDown&) {
            return;
          }
        }
      }));
    weft::gather_all(producers);
    q.shutdown();  // consumers drain what is left, then stop
    weft::gather_all(consumers);
    check_delivery(received, kProducers, per_producer, ordered);
  });
}

}  // namespace

TEST_CASE("stress: producers and consumers over Queue keep every item once and in order") {
  queue_round_trip<weft::Queue<std::uint64_t>>(true);
}

TEST_CASE("stress: producers and consumers over LifoQueue and PriorityQueue keep every item") {
  queue_round_trip<weft::LifoQueue<std::uint64_t>>(false);
  queue_round_trip<weft::PriorityQueue<std::uint64_t>>(false);
}

TEST_CASE("stress: producers and consumers over Channel keep every item once and in order") {
  on_four_workers([] {
    constexpr std::uint64_t kProducers = 4;
    constexpr std::uint64_t kConsumers = 4;
    const std::uint64_t per_producer = scaled(20'000);
    weft::Channel<std::uint64_t> ch(1);
    std::vector<weft::Task<void>> producers;
    for (std::uint64_t p = 0; p < kProducers; ++p)
      producers.push_back(weft::spawn([&ch, p, per_producer] {
        for (std::uint64_t i = 0; i < per_producer; ++i) ch.send(item_of(p, i));
      }));
    std::vector<std::vector<std::uint64_t>> received(kConsumers);
    std::vector<weft::Task<void>> consumers;
    for (std::uint64_t c = 0; c < kConsumers; ++c)
      consumers.push_back(weft::spawn([&ch, &received, c] {
        for (std::uint64_t item : ch) received[c].push_back(item);
      }));
    weft::gather_all(producers);
    ch.close();
    weft::gather_all(consumers);
    check_delivery(received, kProducers, per_producer, true);
  });
}

TEST_CASE("stress: a Lock-protected counter gets every increment") {
  on_four_workers([] {
    weft::Lock lock;
    std::uint64_t counter = 0;  // guarded by lock, touched from every worker
    const std::uint64_t per_task = scaled(1'000'000) / 16;
    std::vector<weft::Task<void>> tasks;
    for (int t = 0; t < 16; ++t)
      tasks.push_back(weft::spawn([&, t] {
        for (std::uint64_t i = 0; i < per_task; ++i) {
          std::lock_guard guard(lock);
          ++counter;
          if ((i + static_cast<std::uint64_t>(t)) % 1024 == 0)
            weft::yield_now();  // hold it across a switch
        }
      }));
    weft::gather_all(tasks);
    CHECK(counter == 16 * per_task);
    CHECK_FALSE(lock.locked());
  });
}

TEST_CASE("stress: a Semaphore never admits more than its value") {
  on_four_workers([] {
    weft::Semaphore sem(3);
    std::atomic<int> inside{0};
    std::atomic<int> over{0};
    std::vector<weft::Task<void>> tasks;
    for (int t = 0; t < 64; ++t)
      tasks.push_back(weft::spawn([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t));
        for (std::uint64_t i = 0; i < scaled(300); ++i) {
          sem.acquire();
          if (++inside > 3) ++over;
          if (rng() % 4 == 0) weft::yield_now();
          --inside;
          sem.release();
        }
      }));
    weft::gather_all(tasks);
    CHECK(over.load() == 0);
    CHECK(sem.value() == 3);
  });
}

TEST_CASE("stress: cancelling waiters at random moments loses no permit, item or lock") {
  on_four_workers([] {
    std::mt19937 rng(99);
    for (std::uint64_t round = 0; round < scaled(30); ++round) {
      weft::Semaphore sem(2);
      weft::Lock lock;
      weft::Queue<int> q;
      weft::Channel<int> ch(2);
      std::atomic<int> got_items{0};
      std::atomic<int> sent{0};
      std::vector<weft::Task<void>> waiters;
      for (int i = 0; i < 40; ++i) {
        switch (i % 4) {
          case 0:
            waiters.push_back(weft::spawn([&] {
              sem.acquire();
              struct Release {
                weft::Semaphore& sem;
                ~Release() { sem.release(); }
              } release{sem};
              weft::yield_now();  // may be cancelled here, holding the permit
            }));
            break;
          case 1:
            waiters.push_back(weft::spawn([&] {
              std::lock_guard guard(lock);
              weft::yield_now();
            }));
            break;
          case 2:
            waiters.push_back(weft::spawn([&] {
              (void)q.get();
              ++got_items;
            }));
            break;
          default:
            waiters.push_back(weft::spawn([&] {
              ch.send(1);
              ++sent;
            }));
            break;
        }
      }
      // Hand-offs and cancellations race: items go in while random waiters are cancelled.
      int put = 0;
      int received = 0;
      for (auto& w : waiters) {
        if (rng() % 2) w.cancel();
        if (rng() % 3 == 0) {
          q.put(put++);
        }
        if (rng() % 4 == 0) weft::yield_now();
      }
      for (auto& w : waiters) {
        // An uncancelled getter or sender may still be waiting: feed it, drain for it.
        while (!w.done()) {
          if (q.empty()) q.put(put++);
          if (ch.try_recv()) ++received;
          weft::sleep(50us);
        }
        try {
          w.get();
        } catch (const weft::CancelledError&) {
        }
      }
      CHECK(sem.value() == 2);                                       // no lost permit
      CHECK_FALSE(lock.locked());                                    // no lost hand-off
      CHECK(got_items.load() + static_cast<int>(q.qsize()) == put);  // no lost item
      while (ch.try_recv()) ++received;
      CHECK(received == sent.load());  // every completed send delivered, nothing invented
    }
  });
}

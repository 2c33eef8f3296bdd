// StealableQueue: single-thread semantics, then owner/thief stress with a tiny (4-slot) and a
// normal (256-slot) buffer, checking that every item is taken exactly once.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "sched/stealable_queue.hpp"

#ifndef WEFT_STRESS_SCALE
#define WEFT_STRESS_SCALE 100
#endif

namespace {

using weft::sched::StealableQueue;

struct Item {
  std::size_t id = 0;
  // Written before the push and checked by whoever takes the item, so a missing
  // happens-before edge shows up under ThreadSanitizer (and a torn read as a failure).
  std::size_t check = 0;
};

constexpr std::size_t kStressItems = std::size_t{200000} * WEFT_STRESS_SCALE / 100;
constexpr auto kDeadline = std::chrono::seconds(120);

std::size_t check_of(std::size_t id) {
  return id * 2654435761u + 17;
}

std::vector<Item> make_items(std::size_t n) {
  std::vector<Item> items(n);
  for (std::size_t i = 0; i < n; ++i) items[i].id = i;
  return items;
}

// Shared bookkeeping of a stress run: how often each id was taken.
class Ledger {
 public:
  explicit Ledger(std::size_t n) : counts_(n), start_(std::chrono::steady_clock::now()) {}

  void take(const Item* item) {
    if (item->check != check_of(item->id)) bad_check_.fetch_add(1, std::memory_order_relaxed);
    counts_[item->id].fetch_add(1, std::memory_order_relaxed);
    taken_.fetch_add(1, std::memory_order_relaxed);
  }

  // True once every item was taken, or (to fail instead of hanging) the deadline passed.
  bool finished() const {
    if (taken_.load(std::memory_order_relaxed) >= counts_.size()) return true;
    return std::chrono::steady_clock::now() - start_ > kDeadline;
  }

  void verify() const {
    std::size_t missing = 0;
    std::size_t duplicated = 0;
    for (const auto& c : counts_) {
      const int v = c.load(std::memory_order_relaxed);
      if (v == 0) ++missing;
      if (v > 1) ++duplicated;
    }
    CHECK(missing == 0);
    CHECK(duplicated == 0);
    CHECK(bad_check_.load() == 0);
    CHECK(taken_.load() == counts_.size());
  }

 private:
  std::vector<std::atomic<int>> counts_;
  std::atomic<std::size_t> taken_{0};
  std::atomic<std::size_t> bad_check_{0};
  std::chrono::steady_clock::time_point start_;
};

// Occasionally gives up the CPU so that interleavings vary from run to run.
void jitter(std::minstd_rand& rng) {
  if (rng() % 64 == 0) std::this_thread::yield();
}

constexpr std::size_t kThieves = 3;

// A thief: steals single items and batches from the owner's queue and from the other thieves'
// queues, and drains its own queue (which the other thieves rob in turn).
void run_thief(std::size_t self, StealableQueue<Item>& owner_queue,
               std::array<std::unique_ptr<StealableQueue<Item>>, kThieves>& queues,
               Ledger& ledger) {
  std::minstd_rand rng(static_cast<unsigned>(self) * 7919u + 1);
  StealableQueue<Item>& mine = *queues[self];
  while (!ledger.finished()) {
    StealableQueue<Item>& victim =
        rng() % 4 == 0 ? *queues[rng() % kThieves] : owner_queue;  // may pick itself
    switch (rng() % 3) {
      case 0: {
        const auto r = victim.try_steal();
        if (r.item != nullptr) ledger.take(r.item);
        break;
      }
      case 1:
        if (Item* item = victim.steal()) ledger.take(item);
        break;
      default:
        victim.steal_into(mine, 1 + rng() % mine.capacity());
        break;
    }
    jitter(rng);
    // Drain part of our own queue: LIFO pops and, sometimes, FIFO takes from ourselves.
    for (std::size_t k = rng() % 4; k > 0; --k) {
      Item* item = rng() % 2 == 0 ? mine.pop() : mine.steal();
      if (item == nullptr) break;
      ledger.take(item);
    }
  }
  while (Item* item = mine.pop()) ledger.take(item);
}

// The owner pushes every item; when `owner_fifo` it takes from its own queue only with
// steal() (oldest first), otherwise with pop() (newest first).
void run_stress(std::size_t capacity, bool owner_fifo) {
  std::vector<Item> items = make_items(kStressItems);
  Ledger ledger(items.size());
  StealableQueue<Item> owner_queue(capacity);
  std::array<std::unique_ptr<StealableQueue<Item>>, kThieves> queues;
  for (auto& q : queues) q = std::make_unique<StealableQueue<Item>>(capacity);

  std::vector<std::thread> thieves;
  for (std::size_t i = 0; i < kThieves; ++i) {
    thieves.emplace_back([&, i] { run_thief(i, owner_queue, queues, ledger); });
  }

  // Ids the owner took from its own queue in FIFO mode; they must come out in push order.
  std::size_t fifo_order_errors = 0;
  std::size_t last_fifo_id = 0;
  bool any_fifo = false;
  auto owner_take = [&]() -> bool {
    Item* item = owner_fifo ? owner_queue.steal() : owner_queue.pop();
    if (item == nullptr) return false;
    if (owner_fifo) {
      if (any_fifo && item->id <= last_fifo_id) ++fifo_order_errors;
      any_fifo = true;
      last_fifo_id = item->id;
    }
    ledger.take(item);
    return true;
  };

  std::minstd_rand rng(12345);
  for (Item& item : items) {
    item.check = check_of(item.id);
    while (!owner_queue.push(&item)) owner_take();  // full: make room ourselves
    if (rng() % 8 == 0) owner_take();
    jitter(rng);
  }
  while (owner_take()) {
  }
  for (auto& t : thieves) t.join();

  ledger.verify();
  CHECK(fifo_order_errors == 0);
  CHECK(owner_queue.empty());
  for (auto& q : queues) CHECK(q->empty());
}

}  // namespace

TEST_CASE("StealableQueue rejects a capacity that is not a power of two >= 2") {
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{6},
                          std::size_t{100}, (std::size_t{1} << 62) + 1, ~std::size_t{0}}) {
    CHECK_THROWS_AS(StealableQueue<Item>{bad}, std::invalid_argument);
  }
  CHECK(StealableQueue<Item>(2).capacity() == 2);
  CHECK(StealableQueue<Item>(1024).capacity() == 1024);
}

TEST_CASE("StealableQueue pop is LIFO and steal is FIFO") {
  std::vector<Item> items = make_items(8);
  StealableQueue<Item> q(8);
  CHECK(q.empty());
  CHECK(q.pop() == nullptr);
  CHECK(q.steal() == nullptr);
  for (Item& item : items) REQUIRE(q.push(&item));
  CHECK(q.size() == 8);
  for (std::size_t i = 8; i-- > 0;) CHECK(q.pop() == &items[i]);
  CHECK(q.pop() == nullptr);
  CHECK(q.empty());

  for (Item& item : items) REQUIRE(q.push(&item));
  for (Item& item : items) CHECK(q.steal() == &item);
  const auto r = q.try_steal();
  CHECK(r.item == nullptr);
  CHECK_FALSE(r.lost_race);
  CHECK(q.size() == 0);
}

TEST_CASE("StealableQueue peeks at the items the owner takes next from either end") {
  std::vector<Item> items = make_items(6);
  StealableQueue<Item> q(4);
  CHECK(q.peek_oldest(0) == nullptr);
  CHECK(q.peek_newest(0) == nullptr);
  // Wrapped around the 4-slot buffer: indices 2..5 hold items 2..5.
  for (std::size_t i = 0; i < 2; ++i) {
    REQUIRE(q.push(&items[i]));
    REQUIRE(q.steal() == &items[i]);
  }
  for (std::size_t i = 2; i < 6; ++i) REQUIRE(q.push(&items[i]));
  CHECK(q.peek_oldest(0) == &items[2]);
  CHECK(q.peek_oldest(3) == &items[5]);
  CHECK(q.peek_oldest(4) == nullptr);
  CHECK(q.peek_newest(0) == &items[5]);
  CHECK(q.peek_newest(3) == &items[2]);
  CHECK(q.peek_newest(4) == nullptr);
  // What it showed is what comes out next.
  CHECK(q.steal() == &items[2]);
  CHECK(q.peek_oldest(0) == &items[3]);
  CHECK(q.pop() == &items[5]);
  CHECK(q.peek_newest(0) == &items[4]);
  CHECK(q.peek_newest(1) == &items[3]);
  CHECK(q.peek_newest(2) == nullptr);
}

TEST_CASE("StealableQueue reports full at capacity and recovers") {
  std::vector<Item> items = make_items(5);
  StealableQueue<Item> q(4);
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(q.push(&items[i]));
  CHECK(q.size() == 4);
  CHECK_FALSE(q.push(&items[4]));
  CHECK(q.steal() == &items[0]);
  REQUIRE(q.push(&items[4]));
  CHECK_FALSE(q.push(&items[0]));
  CHECK(q.pop() == &items[4]);
  CHECK(q.steal() == &items[1]);
  CHECK(q.steal() == &items[2]);
  CHECK(q.pop() == &items[3]);
  CHECK(q.empty());
}

TEST_CASE("StealableQueue mixes pop and steal across many wrap-arounds") {
  std::vector<Item> items = make_items(3);
  StealableQueue<Item> q(2);
  // Each round leaves the queue empty, so indices advance and slots get reused.
  for (int round = 0; round < 1000; ++round) {
    REQUIRE(q.push(&items[0]));
    REQUIRE(q.push(&items[1]));
    CHECK_FALSE(q.push(&items[2]));
    CHECK(q.steal() == &items[0]);
    REQUIRE(q.push(&items[2]));
    CHECK(q.pop() == &items[2]);
    CHECK(q.pop() == &items[1]);  // the last item: pop's CAS path
    CHECK(q.pop() == nullptr);
    CHECK(q.steal() == nullptr);
    CHECK(q.size() == 0);
  }

  StealableQueue<Item> big(8);
  std::vector<Item> more = make_items(4);
  for (Item& item : more) REQUIRE(big.push(&item));
  CHECK(big.steal() == &more[0]);
  CHECK(big.pop() == &more[3]);
  CHECK(big.steal() == &more[1]);
  CHECK(big.pop() == &more[2]);
  CHECK(big.steal() == nullptr);
}

TEST_CASE("StealableQueue steal_into moves the older half, bounded by max and free room") {
  std::vector<Item> items = make_items(8);

  SUBCASE("half of an even size") {
    StealableQueue<Item> victim(8);
    StealableQueue<Item> mine(8);
    for (Item& item : items) REQUIRE(victim.push(&item));
    CHECK(victim.steal_into(mine, 100) == 4);
    CHECK(victim.size() == 4);
    CHECK(mine.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) CHECK(mine.steal() == &items[i]);  // oldest first
    for (std::size_t i = 4; i < 8; ++i) CHECK(victim.steal() == &items[i]);
  }
  SUBCASE("half rounded up") {
    StealableQueue<Item> victim(8);
    StealableQueue<Item> mine(8);
    for (std::size_t i = 0; i < 5; ++i) REQUIRE(victim.push(&items[i]));
    CHECK(victim.steal_into(mine, 100) == 3);
    StealableQueue<Item> single(2);
    REQUIRE(single.push(&items[7]));
    CHECK(single.steal_into(mine, 100) == 1);
    CHECK(single.empty());
    CHECK(mine.pop() == &items[7]);
    CHECK(mine.pop() == &items[2]);
  }
  SUBCASE("max limits the batch") {
    StealableQueue<Item> victim(8);
    StealableQueue<Item> mine(8);
    for (Item& item : items) REQUIRE(victim.push(&item));
    CHECK(victim.steal_into(mine, 2) == 2);
    CHECK(victim.steal_into(mine, 0) == 0);
    CHECK(victim.size() == 6);
    CHECK(mine.size() == 2);
  }
  SUBCASE("a nearly full or full destination takes only what fits") {
    StealableQueue<Item> victim(8);
    StealableQueue<Item> mine(4);
    for (Item& item : items) REQUIRE(victim.push(&item));
    REQUIRE(mine.push(victim.pop()));
    REQUIRE(mine.push(victim.pop()));
    REQUIRE(mine.push(victim.pop()));
    CHECK(victim.steal_into(mine, 100) == 1);
    CHECK(victim.steal_into(mine, 100) == 0);
    CHECK(victim.size() == 4);
    CHECK(mine.size() == 4);
    std::size_t drained = 0;
    while (victim.pop() != nullptr) ++drained;
    while (mine.pop() != nullptr) ++drained;
    CHECK(drained == 8);
  }
  SUBCASE("empty victim and self") {
    StealableQueue<Item> victim(8);
    StealableQueue<Item> mine(8);
    CHECK(victim.steal_into(mine, 4) == 0);
    REQUIRE(mine.push(&items[0]));
    CHECK(mine.steal_into(mine, 4) == 0);
    CHECK(mine.size() == 1);
  }
}

TEST_CASE("StealableQueue stress: owner pops, thieves steal, capacity 4") {
  run_stress(4, false);
}

TEST_CASE("StealableQueue stress: owner pops, thieves steal, capacity 256") {
  run_stress(256, false);
}

TEST_CASE("StealableQueue stress: owner takes FIFO from itself, capacity 4") {
  run_stress(4, true);
}

TEST_CASE("StealableQueue stress: owner takes FIFO from itself, capacity 256") {
  run_stress(256, true);
}

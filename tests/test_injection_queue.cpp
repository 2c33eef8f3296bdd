// InjectionQueue: FIFO order, batches, the ring growing and the list behind it, and
// producer/consumer stress checking that every node comes out exactly once (and, with one
// consumer, in each producer's order), also with a ring of a few slots so that pushes keep
// moving between the ring and the list.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "sched/injection_queue.hpp"

#ifndef WEFT_STRESS_SCALE
#define WEFT_STRESS_SCALE 100
#endif

namespace {

struct Node {
  std::size_t id = 0;
  std::size_t producer = 0;
  Node* next = nullptr;
};

using Queue = weft::sched::InjectionQueue<Node, &Node::next>;

constexpr std::size_t kPerProducer = std::size_t{50000} * WEFT_STRESS_SCALE / 100;
constexpr auto kDeadline = std::chrono::seconds(120);

std::vector<Node> make_nodes(std::size_t n) {
  std::vector<Node> nodes(n);
  for (std::size_t i = 0; i < n; ++i) nodes[i].id = i;
  return nodes;
}

// Pushes nodes[from, to) as one array.
void push_range(Queue& q, std::vector<Node>& nodes, std::size_t from, std::size_t to) {
  std::vector<Node*> array;
  for (std::size_t i = from; i < to; ++i) array.push_back(&nodes[i]);
  q.push_array(array.data(), array.size());
}

// Producer p owns ids [p * kPerProducer, (p + 1) * kPerProducer) and pushes them in order,
// singly or as arrays of 1..8.
void produce(Queue& q, std::vector<Node>& nodes, std::size_t p) {
  std::minstd_rand rng(static_cast<unsigned>(p) + 1);
  const std::size_t end = (p + 1) * kPerProducer;
  std::size_t i = p * kPerProducer;
  while (i < end) {
    if (rng() % 2 == 0) {
      nodes[i].producer = p;
      q.push(&nodes[i++]);
    } else {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 8, end - i);
      for (std::size_t k = i; k < i + n; ++k) nodes[k].producer = p;
      push_range(q, nodes, i, i + n);
      i += n;
    }
    if (rng() % 64 == 0) std::this_thread::yield();
  }
}

struct Consumed {
  std::vector<std::atomic<int>> counts;
  std::atomic<std::size_t> taken{0};
  std::atomic<std::size_t> order_errors{0};
  explicit Consumed(std::size_t n) : counts(n) {}
};

// Pops until every node was taken (or the deadline passed, to fail rather than hang). With
// `check_order`, this is the only consumer, so each producer's ids must arrive increasing.
void consume(Queue& q, Consumed& c, std::size_t producers, bool check_order, unsigned seed) {
  std::minstd_rand rng(seed);
  std::vector<std::size_t> next_id(producers);
  for (std::size_t p = 0; p < producers; ++p) next_id[p] = p * kPerProducer;
  const std::size_t total = c.counts.size();
  const auto start = std::chrono::steady_clock::now();
  auto take = [&](Node* node) {
    if (check_order) {
      if (node->id != next_id[node->producer]) c.order_errors.fetch_add(1);
      next_id[node->producer] = node->id + 1;
    }
    c.counts[node->id].fetch_add(1, std::memory_order_relaxed);
    c.taken.fetch_add(1, std::memory_order_relaxed);
  };
  Node* batch[16];
  while (c.taken.load(std::memory_order_relaxed) < total) {
    if (std::chrono::steady_clock::now() - start > kDeadline) break;
    if (q.empty() && rng() % 4 != 0) {  // the worker's fast path, sometimes bypassed
      std::this_thread::yield();
      continue;
    }
    if (rng() % 2 == 0) {
      if (Node* node = q.pop()) take(node);
    } else {
      const std::size_t n = q.pop_batch(batch, 1 + rng() % 16);
      for (std::size_t k = 0; k < n; ++k) take(batch[k]);
    }
  }
}

void run_stress(std::size_t producers, std::size_t consumers, std::size_t initial_ring,
                std::size_t max_ring) {
  std::vector<Node> nodes = make_nodes(producers * kPerProducer);
  Queue q(initial_ring, max_ring);
  Consumed c(nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] { produce(q, nodes, p); });
  }
  for (std::size_t k = 0; k < consumers; ++k) {
    threads.emplace_back(
        [&, k] { consume(q, c, producers, consumers == 1, static_cast<unsigned>(k) + 99); });
  }
  for (auto& t : threads) t.join();

  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (const auto& count : c.counts) {
    const int v = count.load();
    if (v == 0) ++missing;
    if (v > 1) ++duplicated;
  }
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(c.order_errors.load() == 0);
  CHECK(q.empty());
  CHECK(q.size() == 0);
  CHECK(q.pop() == nullptr);
}

}  // namespace

TEST_CASE("InjectionQueue is FIFO") {
  std::vector<Node> nodes = make_nodes(5);
  Queue q;
  CHECK(q.empty());
  CHECK(q.pop() == nullptr);
  for (Node& node : nodes) q.push(&node);
  CHECK(q.size() == 5);
  CHECK_FALSE(q.empty());
  for (Node& node : nodes) {
    Node* got = q.pop();
    CHECK(got == &node);
    CHECK(got->next == nullptr);
  }
  CHECK(q.pop() == nullptr);
  CHECK(q.empty());

  // Refill after draining: head and tail must both have been reset.
  q.push(&nodes[3]);
  q.push(&nodes[1]);
  CHECK(q.pop() == &nodes[3]);
  CHECK(q.pop() == &nodes[1]);
  CHECK(q.pop() == nullptr);
}

TEST_CASE("InjectionQueue batches keep FIFO order") {
  std::vector<Node> nodes = make_nodes(8);
  Queue q;
  q.push(&nodes[0]);
  push_range(q, nodes, 1, 5);
  q.push_array(nullptr, 0);  // an empty array does nothing
  q.push(&nodes[5]);
  push_range(q, nodes, 6, 8);
  CHECK(q.size() == 8);

  Node* out[10] = {};
  CHECK(q.pop_batch(out, 0) == 0);
  REQUIRE(q.pop_batch(out, 3) == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(out[i] == &nodes[i]);
    CHECK(out[i]->next == nullptr);
  }
  CHECK(q.size() == 5);
  CHECK(q.pop() == &nodes[3]);
  REQUIRE(q.pop_batch(out, 10) == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(out[i] == &nodes[4 + i]);
  CHECK(q.pop_batch(out, 10) == 0);
  CHECK(q.empty());

  // The tail is reset by pop_batch too: a later push is still found.
  q.push(&nodes[2]);
  CHECK(q.pop_batch(out, 10) == 1);
  CHECK(out[0] == &nodes[2]);
}

TEST_CASE("InjectionQueue grows its ring, and keeps FIFO order across ring and list at its limit") {
  std::vector<Node> nodes = make_nodes(60);
  for (const std::size_t max_ring : {std::size_t{8}, std::size_t{64}}) {
    CAPTURE(max_ring);
    for (Node& node : nodes) node.next = nullptr;
    Queue q(2, max_ring);
    // 0..9 singly, 10..29 as arrays, 30..39 singly: with a limit of 8 slots the ring fills at
    // 8 and everything after goes to the list, behind it.
    for (std::size_t i = 0; i < 10; ++i) q.push(&nodes[i]);
    push_range(q, nodes, 10, 25);
    push_range(q, nodes, 25, 30);
    for (std::size_t i = 30; i < 40; ++i) q.push(&nodes[i]);
    CHECK(q.size() == 40);
    Node* out[7];
    std::size_t next = 0;
    const auto take = [&](std::size_t max) {
      const std::size_t n = q.pop_batch(out, max);
      for (std::size_t k = 0; k < n; ++k) {
        CHECK(out[k] == &nodes[next + k]);
        CHECK(out[k]->next == nullptr);
      }
      next += n;
      return n;
    };
    // Pops free ring slots while the list still holds older nodes: the pushes that follow must
    // still go behind the list, not into the ring ahead of it.
    CHECK(take(3) == 3);
    q.push(&nodes[40]);
    push_range(q, nodes, 41, 45);
    CHECK(take(7) == 7);
    push_range(q, nodes, 45, 50);
    for (std::size_t i = 50; i < 60; ++i) q.push(&nodes[i]);
    while (take(7) != 0) {
    }
    CHECK(next == 60);
    CHECK(q.empty());
    // Drained: new pushes go to the ring again, and come out in order.
    q.push(&nodes[3]);
    push_range(q, nodes, 10, 12);
    CHECK(q.pop() == &nodes[3]);
    CHECK(q.pop() == &nodes[10]);
    CHECK(q.pop() == &nodes[11]);
    CHECK(q.pop() == nullptr);
  }
}

TEST_CASE("InjectionQueue: a burst grows the ring far, and after it drains the queue goes on") {
  std::vector<Node> nodes = make_nodes(10000);
  Queue q(2, std::size_t{1} << 14);
  for (int round = 0; round < 2; ++round) {
    for (Node& node : nodes) q.push(&node);
    Node* out[64];
    std::size_t next = 0;
    while (const std::size_t n = q.pop_batch(out, 64)) {
      for (std::size_t k = 0; k < n; ++k) REQUIRE(out[k] == &nodes[next + k]);
      next += n;
    }
    CHECK(next == nodes.size());
  }
}

TEST_CASE("InjectionQueue rejects null input and bad ring sizes") {
  CHECK_THROWS_AS(Queue(3, 8), std::invalid_argument);
  CHECK_THROWS_AS(Queue(8, 4), std::invalid_argument);
  CHECK_THROWS_AS(Queue(0, 4), std::invalid_argument);
  Queue q;
  Node node;
  CHECK_THROWS_AS(q.push_array(nullptr, 1), std::invalid_argument);
  CHECK_THROWS_AS(q.push(nullptr), std::invalid_argument);
  Node* with_null[2] = {&node, nullptr};
  CHECK_THROWS_AS(q.push_array(with_null, 2), std::invalid_argument);
  CHECK_THROWS_AS((void)q.pop_batch(nullptr, 1), std::invalid_argument);
  CHECK(q.empty());
}

TEST_CASE("InjectionQueue stress: 4 producers, 1 consumer, in order and exactly once") {
  run_stress(4, 1, Queue::kInitialRing, Queue::kDefaultMaxRing);
}

TEST_CASE("InjectionQueue stress: 2 producers, 2 consumers, exactly once") {
  run_stress(2, 2, Queue::kInitialRing, Queue::kDefaultMaxRing);
}

TEST_CASE(
    "InjectionQueue stress with a 4-slot ring: in order and exactly once across ring and list") {
  run_stress(4, 1, 2, 4);
  run_stress(2, 2, 2, 4);
}

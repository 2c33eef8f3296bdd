// Queue, LifoQueue, PriorityQueue and Channel.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parked.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

TEST_CASE("Queue: FIFO, maxsize, qsize/empty/full, try_put/try_get") {
  in_runtimes([] {
    weft::Queue<int> q(2);
    CHECK(q.empty());
    CHECK(q.maxsize() == 2);
    q.put(1);
    q.try_put(2);
    CHECK(q.full());
    CHECK(q.qsize() == 2);
    CHECK_THROWS_AS(q.try_put(3), weft::QueueFull);
    CHECK(q.get() == 1);
    CHECK(q.try_get() == 2);
    CHECK_THROWS_AS((void)q.try_get(), weft::QueueEmpty);
    CHECK_THROWS_AS((void)q.get(2ms), weft::TimeoutError);
    q.put(4);
    q.put(5);
    CHECK_THROWS_AS(q.put(6, 2ms), weft::TimeoutError);
  });
}

TEST_CASE("Queue: put parks while full and get parks while empty, across workers") {
  in_runtimes([] {
    weft::Queue<int> q(1);
    weft::Task<long> consumer = weft::spawn([&] {
      long sum = 0;
      for (int i = 0; i < 1000; ++i) sum += q.get();
      return sum;
    });
    for (int i = 0; i < 1000; ++i) q.put(i);
    CHECK(consumer.get() == 999L * 1000 / 2);
  });
}

TEST_CASE("LifoQueue and PriorityQueue order") {
  in_runtimes([] {
    weft::LifoQueue<int> lifo;
    for (int i : {1, 2, 3}) lifo.put(i);
    CHECK(lifo.get() == 3);
    CHECK(lifo.get() == 2);
    CHECK(lifo.get() == 1);

    weft::PriorityQueue<int> smallest_first;
    for (int i : {5, 1, 4, 2, 3}) smallest_first.put(i);
    std::vector<int> out;
    while (!smallest_first.empty()) out.push_back(smallest_first.get());
    CHECK(out == std::vector<int>{1, 2, 3, 4, 5});

    weft::PriorityQueue<std::string, std::greater<std::string>> largest_first;
    for (const char* s : {"b", "c", "a"}) largest_first.put(s);
    CHECK(largest_first.get() == "c");
  });
}

TEST_CASE("Queue: task_done and join") {
  in_runtimes([] {
    weft::Queue<int> q;
    std::atomic<int> handled{0};
    for (int i = 0; i < 20; ++i) q.put(i);
    std::vector<weft::Task<void>> workers;
    for (int w = 0; w < 3; ++w)
      workers.push_back(weft::spawn([&] {
        for (;;) {
          (void)q.get();
          weft::sleep(100us);
          ++handled;
          q.task_done();
        }
      }));
    q.join();
    CHECK(handled.load() == 20);
    for (auto& w : workers) w.cancel();
    for (auto& w : workers) CHECK_THROWS_AS((void)w.get(), weft::CancelledError);
    CHECK_THROWS_AS(q.task_done(), std::invalid_argument);
  });
}

TEST_CASE("Queue: shutdown wakes getters and putters, immediate drops the items") {
  in_runtimes([] {
    weft::Queue<int> q(1);
    weft::Queue<int> empty;
    weft::Task<void> parked_getter = weft::spawn([&] { (void)empty.get(); });
    weft::sleep(1ms);
    empty.shutdown();
    CHECK_THROWS_AS((void)parked_getter.get(), weft::QueueShutDown);
    CHECK_THROWS_AS(empty.put(1), weft::QueueShutDown);

    q.put(1);
    weft::Task<void> parked_putter = weft::spawn([&] { q.put(2); });
    weft::sleep(1ms);
    q.shutdown();  // not immediate: what is queued can still be read
    CHECK_THROWS_AS((void)parked_putter.get(), weft::QueueShutDown);
    CHECK(q.get() == 1);
    CHECK_THROWS_AS((void)q.get(), weft::QueueShutDown);

    weft::Queue<int> dropped;
    dropped.put(1);
    dropped.put(2);
    dropped.shutdown(true);
    CHECK(dropped.qsize() == 0);
    dropped.join();  // the dropped items count as done
    CHECK_THROWS_AS((void)dropped.try_get(), weft::QueueShutDown);
  });
}

TEST_CASE("Queue::put_nowait from a plain std::thread wakes a fiber") {
  in_runtimes([] {
    weft::Queue<int> q;
    weft::Task<int> getter = weft::spawn([&] { return q.get() + q.get(); });
    std::thread producer([&] {
      std::this_thread::sleep_for(2ms);
      q.put_nowait(20);
      q.put_nowait(22);
    });
    CHECK(getter.get() == 42);
    producer.join();
  });
}

TEST_CASE("Queue: a cancelled or timed-out getter takes no item") {
  in_runtimes([] {
    weft::Queue<int> q;
    weft::Task<int> cancelled = weft::spawn([&] { return q.get(); });
    weft::Task<int> timed_out = weft::spawn([&] { return q.get(3ms); });
    weft::sleep(1ms);
    cancelled.cancel();
    CHECK_THROWS_AS((void)cancelled.get(), weft::CancelledError);
    CHECK_THROWS_AS((void)timed_out.get(), weft::TimeoutError);
    q.put(7);
    CHECK(q.qsize() == 1);
    CHECK(q.get() == 7);
  });
}

TEST_CASE("Channel: send/recv, close drains then ends, range-for") {
  in_runtimes([] {
    weft::Channel<int> ch(4);
    weft::Task<void> producer = weft::spawn([&] {
      for (int i = 0; i < 100; ++i) ch.send(i);
      ch.close();
    });
    int expected = 0;
    for (int x : ch) CHECK(x == expected++);
    CHECK(expected == 100);
    producer.get();
    CHECK_FALSE(ch.recv().has_value());
    CHECK_THROWS_AS(ch.send(1), weft::ChannelClosed);
    CHECK(ch.closed());

    weft::Channel<std::string> one(1);
    std::string hello = "hello";
    CHECK(one.try_send(hello));
    std::string again = "again";
    CHECK_FALSE(one.try_send(again));
    CHECK(one.try_recv() == "hello");
    CHECK_FALSE(one.try_recv().has_value());
    CHECK_THROWS_AS((void)one.recv(2ms), weft::TimeoutError);
    CHECK_THROWS_AS(weft::Channel<int>(0), std::invalid_argument);
  });
}

TEST_CASE("Channel: close wakes parked receivers and senders") {
  in_runtimes([] {
    weft::Channel<int> ch(1);
    weft::Task<std::optional<int>> receiver = weft::spawn([&] { return ch.recv(); });
    weft::sleep(1ms);
    ch.close();
    CHECK_FALSE(receiver.get().has_value());

    weft::Channel<int> full(1);
    full.send(1);
    weft::Task<void> sender = weft::spawn([&] { full.send(2); });
    weft::sleep(1ms);
    full.close();
    CHECK_THROWS_AS((void)sender.get(), weft::ChannelClosed);
    CHECK(full.recv() == 1);  // what was sent before close is still delivered
  });
}

TEST_CASE("Queue::join with a timeout") {
  in_runtimes([] {
    weft::Queue<int> q;
    q.put(1);
    CHECK_THROWS_AS(q.join(2ms), weft::TimeoutError);
    (void)q.get();
    q.task_done();
    q.join(1ms);
  });
}

// The cancellation matrix: a waiter cancelled before it parks (the request is pending when it
// calls), while parked, and racing with the wake-up (cancel and hand-off issued back to back
// from another fiber, in both orders). Whatever wins, nothing is lost: a waiter either got what
// was handed over (and its cancellation stays pending) or left without it.
TEST_CASE("cancellation matrix: Lock, Semaphore, Queue and Channel waiters") {
  in_runtimes([] {
    // Before park: the request is already pending when the wait starts.
    {
      weft::Lock lock;
      lock.lock();
      weft::Task<void> t = weft::spawn([&] {
        weft::current_task().cancel("early");
        lock.lock();
      });
      CHECK_THROWS_WITH_AS((void)t.get(), "early", weft::CancelledError);
      lock.unlock();
      CHECK_FALSE(lock.locked());
    }
    // While parked, and racing with the hand-off in both orders.
    for (int order = 0; order < 2; ++order) {
      for (int round = 0; round < 50; ++round) {
        weft::Semaphore sem(0);
        weft::Queue<int> q;
        weft::Channel<int> ch(1);
        std::atomic<int> sem_got{0};
        std::atomic<int> q_got{0};
        std::atomic<int> ch_got{0};
        weft::Task<void> a = weft::spawn([&] {
          sem.acquire();
          ++sem_got;
        });
        weft::Task<void> b = weft::spawn([&] { q_got += q.get(); });
        weft::Task<void> c = weft::spawn([&] { ch_got += *ch.recv(); });
        for (int i = 0; i < round % 3; ++i) weft::yield_now();
        if (order == 0) {
          a.cancel();
          b.cancel();
          c.cancel();
          sem.release();
          q.put(1);
          ch.send(1);
        } else {
          sem.release();
          q.put(1);
          ch.send(1);
          a.cancel();
          b.cancel();
          c.cancel();
        }
        for (auto* t : {&a, &b, &c}) {
          try {
            t->get();
          } catch (const weft::CancelledError&) {
          }
        }
        // The permit / item went to the waiter or is still there: never both, never neither.
        CHECK(sem_got.load() + static_cast<int>(sem.value()) == 1);
        CHECK(q_got.load() + static_cast<int>(q.qsize()) == 1);
        CHECK(ch_got.load() + static_cast<int>(ch.size()) == 1);
      }
    }
  });
}

TEST_CASE("a receiver parked on an empty Channel or Queue is handed the item directly") {
  // The item goes into the parked receiver's hands, not the buffer: a try_recv/try_get that
  // comes after the send, before the receiver runs again, finds nothing to take.
  in_runtimes([] {
    weft::Channel<int> ch(1);
    weft::Task<std::optional<int>> receiver = weft::spawn([&] { return ch.recv(10s); });
    REQUIRE(weft_test::wait_parked(receiver, "receiving from an empty Channel"));
    ch.send(7);
    CHECK_FALSE(ch.try_recv().has_value());
    CHECK(receiver.get() == 7);

    weft::Queue<std::string> q(1);
    weft::Task<std::string> getter = weft::spawn([&] { return q.get(10s); });
    REQUIRE(weft_test::wait_parked(getter, "getting from an empty Queue"));
    q.put("handed");
    CHECK_THROWS_AS((void)q.try_get(), weft::QueueEmpty);
    CHECK(q.qsize() == 0);
    CHECK(getter.get() == "handed");
    q.task_done();
    q.join();  // the handed item counted as put: join waited for its task_done
  });
}

TEST_CASE("a sender woken for room that hands its value over passes the wake-up on") {
  // One worker, so the order is fixed: the woken sender runs only after this fiber has parked
  // on the emptied channel, hands its value over, and leaves the room it was woken for to the
  // next sender, who would otherwise wait for a receive that never comes.
  weft::run(weft_test::config_with(1), [] {
    weft::Channel<int> ch(1);
    ch.send(1);  // full
    weft::Task<void> first = weft::spawn([&] { ch.send(2); });
    REQUIRE(weft_test::wait_parked(first, "sending on a full Channel"));
    weft::Task<void> second = weft::spawn([&] { ch.send(3); });
    REQUIRE(weft_test::wait_parked(second, "sending on a full Channel"));
    CHECK(ch.try_recv() == 1);  // wakes `first`, which cannot run before we park
    CHECK(ch.recv(10s) == 2);   // parks on the empty channel; `first` hands us its value
    first.get();
    CHECK_NOTHROW(weft::wait_for(10s, second));  // TimeoutError if the wake-up was lost
    CHECK(ch.recv(10s) == 3);
  });
}

TEST_CASE("a receiver handed an item may destroy the queue or channel at once") {
  // The receiver returns without taking the lock again, so the sender must be done with the
  // object before it wakes the receiver (AddressSanitizer reports a use after free otherwise).
  in_runtimes([] {
    for (std::uint64_t i = 0; i < weft_test::scaled(2000); ++i) {
      auto ch = std::make_unique<weft::Channel<int>>(1);
      weft::Task<void> sender = weft::spawn([raw = ch.get()] { raw->send(1); });
      CHECK(ch->recv(10s) == 1);
      ch.reset();
      sender.get();
      auto q = std::make_unique<weft::Queue<int>>(1);
      weft::Task<void> putter = weft::spawn([raw = q.get()] { raw->put(2); });
      CHECK(q->get(10s) == 2);
      q.reset();
      putter.get();
    }
  });
}

// Lock, Event, Condition, Semaphore, BoundedSemaphore and Barrier, between fibers on any worker.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "parked.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::wait_parked;

TEST_CASE("Lock: mutual exclusion, try_lock, locked, lock_guard and FIFO hand-off") {
  in_runtimes([] {
    weft::Lock lock;
    CHECK_FALSE(lock.locked());
    {
      std::lock_guard guard(lock);
      CHECK(lock.locked());
      CHECK_FALSE(lock.try_lock());
    }
    CHECK_FALSE(lock.locked());

    // Waiters get the lock in the order they queued.
    std::vector<int> order;
    lock.lock();
    std::vector<weft::Task<void>> waiters;
    for (int i = 0; i < 5; ++i) {
      waiters.push_back(weft::spawn([&, i] {
        std::lock_guard guard(lock);
        order.push_back(i);
      }));
      // Queued (parked on the lock) before the next one is spawned.
      REQUIRE(wait_parked(waiters.back(), "acquiring a Lock"));
    }
    lock.unlock();
    weft::gather_all(waiters);
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    CHECK_THROWS_AS(lock.unlock(), weft::InvalidStateError);
  });
}

TEST_CASE("Lock: timeouts and cancellation never take a hand-off") {
  in_runtimes([] {
    weft::Lock lock;
    lock.lock();
    CHECK_FALSE(lock.try_lock_for(5ms));
    CHECK_THROWS_AS(lock.lock(2ms), weft::TimeoutError);
    weft::Task<void> cancelled = weft::spawn([&] { lock.lock(); });
    REQUIRE(wait_parked(cancelled, "acquiring a Lock"));  // a queued waiter, not an unstarted task
    cancelled.cancel();
    CHECK_THROWS_AS((void)cancelled.get(), weft::CancelledError);
    // The lock is still ours, and the next waiter gets it when we let go.
    CHECK(lock.locked());
    weft::Task<bool> next = weft::spawn([&] {
      std::lock_guard guard(lock);
      return true;
    });
    REQUIRE(wait_parked(next, "acquiring a Lock"));  // so unlock() hands the lock over
    lock.unlock();
    CHECK(next.get());
    CHECK_FALSE(lock.locked());
  });
}

TEST_CASE("Event: set wakes every waiter, clear resets, wait with a timeout") {
  in_runtimes([] {
    weft::Event event;
    std::atomic<int> woken{0};
    std::vector<weft::Task<void>> waiters;
    for (int i = 0; i < 10; ++i)
      waiters.push_back(weft::spawn([&] {
        event.wait();
        ++woken;
      }));
    for (const weft::Task<void>& waiter : waiters)
      REQUIRE(wait_parked(waiter, "waiting for an Event"));  // set() must wake them
    CHECK(woken.load() == 0);
    event.set();
    weft::gather_all(waiters);
    CHECK(woken.load() == 10);
    CHECK(event.is_set());
    event.wait();  // set: returns at once
    event.clear();
    CHECK_FALSE(event.is_set());
    CHECK_THROWS_AS(event.wait(3ms), weft::TimeoutError);
  });
}

TEST_CASE("Event::set from a plain std::thread wakes fibers") {
  in_runtimes([] {
    weft::Event event;
    weft::Task<int> waiter = weft::spawn([&] {
      event.wait();
      return 1;
    });
    REQUIRE(wait_parked(waiter, "waiting for an Event"));  // the thread wakes a parked fiber
    std::thread setter([&] { event.set(); });
    CHECK(waiter.get() == 1);
    setter.join();
  });
}

TEST_CASE("Condition: wait releases the lock, notify and notify_all, wait_for a predicate") {
  in_runtimes([] {
    weft::Lock lock;
    weft::Condition cond(lock);
    int stock = 0;
    std::atomic<int> consumed{0};
    std::vector<weft::Task<void>> consumers;
    for (int i = 0; i < 4; ++i)
      consumers.push_back(weft::spawn([&] {
        std::lock_guard guard(lock);
        cond.wait_for([&] { return stock > 0; });
        --stock;
        ++consumed;
      }));
    // All four wait at once, so each released the lock in wait().
    for (const weft::Task<void>& consumer : consumers)
      REQUIRE(wait_parked(consumer, "waiting on a Condition"));
    for (int i = 0; i < 4; ++i) {
      std::lock_guard guard(lock);
      ++stock;
      cond.notify();
    }
    weft::gather_all(consumers);
    CHECK(consumed.load() == 4);
    CHECK(stock == 0);

    weft::Condition own;
    CHECK_THROWS_AS(own.wait(), weft::InvalidStateError);  // lock not held
    CHECK_THROWS_AS(own.notify(), weft::InvalidStateError);
    std::lock_guard guard(own.lock());
    CHECK_THROWS_AS(own.wait(2ms), weft::TimeoutError);
    CHECK(own.lock().locked());  // taken back before the error
  });
}

TEST_CASE("Condition: wait_for a predicate under a timeout") {
  in_runtimes([] {
    weft::Condition cond;
    int stock = 0;
    // Notified every millisecond while the predicate stays false: one deadline spans all the
    // wake-ups (restarted at each, the wait would last as long as the notifications).
    std::atomic<bool> notifying{true};
    weft::Task<void> notifier = weft::spawn([&] {
      while (notifying.load()) {
        weft::sleep(1ms);
        std::lock_guard guard(cond.lock());
        cond.notify_all();
      }
    });
    {
      std::lock_guard guard(cond.lock());
      const auto start = weft::Clock::now();
      CHECK_THROWS_AS(cond.wait_for([&] { return stock > 0; }, 5ms), weft::TimeoutError);
      CHECK(weft::Clock::now() - start >= 5ms);
      CHECK(cond.lock().locked());
    }
    notifying = false;
    notifier.get();
    // Made true without a notify while the waiter is parked: at the deadline wait_for sees it.
    // `quiet` queues on the lock first, so the wait's unlock() hands the lock to it: the wait,
    // once timed out, can only take the lock back after `quiet` has set the stock, however
    // late either of them runs.
    weft::Task<void> quiet = weft::spawn([&] {
      std::lock_guard guard(cond.lock());
      stock = 1;
    });
    {
      std::lock_guard guard(cond.lock());
      REQUIRE(wait_parked(quiet, "acquiring a Lock"));
      CHECK(cond.wait_for([&] { return stock > 0; }, 20ms));
    }
    quiet.get();
    stock = 0;
    // A predicate that becomes true in time (notified; the lock handed over as above).
    weft::Task<void> producer = weft::spawn([&] {
      std::lock_guard guard(cond.lock());
      stock = 1;
      cond.notify();
    });
    std::lock_guard guard(cond.lock());
    REQUIRE(wait_parked(producer, "acquiring a Lock"));
    CHECK(cond.wait_for([&] { return stock > 0; }, 10s));
    CHECK(stock == 1);
    producer.get();
  });
}

TEST_CASE("Condition: a cancelled waiter re-acquires the lock before it raises") {
  in_runtimes([] {
    weft::Condition cond;
    std::atomic<bool> held_after_cancel{false};
    weft::Task<void> waiter = weft::spawn([&] {
      std::lock_guard guard(cond.lock());
      try {
        cond.wait();
      } catch (const weft::CancelledError&) {
        held_after_cancel = cond.lock().locked();
        throw;
      }
    });
    REQUIRE(wait_parked(waiter, "waiting on a Condition"));
    waiter.cancel();
    CHECK_THROWS_AS((void)waiter.get(), weft::CancelledError);
    CHECK(held_after_cancel.load());
    CHECK_FALSE(cond.lock().locked());
  });
}

TEST_CASE("Semaphore limits concurrency and BoundedSemaphore refuses an extra release") {
  in_runtimes([] {
    weft::Semaphore sem(3);
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    std::vector<weft::Task<void>> tasks;
    for (int i = 0; i < 30; ++i)
      tasks.push_back(weft::spawn([&] {
        sem.acquire();
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        weft::sleep(200us);
        --inside;
        sem.release();
      }));
    weft::gather_all(tasks);
    CHECK(most.load() <= 3);
    CHECK(most.load() >= 1);
    CHECK(sem.value() == 3);

    weft::Semaphore empty(0);
    CHECK(empty.locked());
    CHECK_FALSE(empty.try_acquire());
    CHECK_THROWS_AS(empty.acquire(2ms), weft::TimeoutError);
    empty.release();
    CHECK(empty.try_acquire());

    weft::BoundedSemaphore bounded(2);
    bounded.acquire();
    bounded.release();
    CHECK_THROWS_AS(bounded.release(), std::invalid_argument);
  });
}

TEST_CASE("Semaphore: a cancelled waiter does not take the permit meant for the next") {
  in_runtimes([] {
    weft::Semaphore sem(0);
    weft::Task<void> first = weft::spawn([&] { sem.acquire(); });
    REQUIRE(wait_parked(first, "acquiring a Semaphore"));
    weft::Task<int> second = weft::spawn([&] {
      sem.acquire();
      return 2;
    });
    REQUIRE(wait_parked(second, "acquiring a Semaphore"));  // queued behind `first`
    first.cancel();
    CHECK_THROWS_AS((void)first.get(), weft::CancelledError);
    sem.release();
    CHECK(second.get() == 2);
    CHECK(sem.value() == 0);
  });
}

TEST_CASE("Barrier: arrival indexes, reuse for several rounds, abort and reset") {
  in_runtimes([] {
    weft::Barrier barrier(3);
    for (int round = 0; round < 3; ++round) {
      std::vector<weft::Task<std::size_t>> parties;
      for (int i = 0; i < 3; ++i) parties.push_back(weft::spawn([&] { return barrier.wait(); }));
      std::vector<std::size_t> indexes = weft::gather_all(parties);
      std::sort(indexes.begin(), indexes.end());
      CHECK(indexes == std::vector<std::size_t>{0, 1, 2});
    }
    weft::Task<std::size_t> stuck = weft::spawn([&] { return barrier.wait(); });
    REQUIRE(wait_parked(stuck, "waiting at a Barrier"));
    CHECK(barrier.n_waiting() == 1);
    barrier.abort();
    CHECK_THROWS_AS((void)stuck.get(), weft::BrokenBarrierError);
    CHECK(barrier.broken());
    CHECK_THROWS_AS(barrier.wait(), weft::BrokenBarrierError);
    barrier.reset();
    CHECK_FALSE(barrier.broken());
    CHECK_THROWS_AS(barrier.wait(2ms), weft::TimeoutError);
    CHECK(barrier.n_waiting() == 0);  // the timed-out party left
    CHECK_THROWS_AS(weft::Barrier(0), std::invalid_argument);
  });
}

TEST_CASE("waits outside a fiber are a logic_error") {
  weft::Lock lock;
  lock.lock();  // uncontended: fine anywhere
  CHECK_THROWS_AS(lock.lock(), std::logic_error);
  weft::Event event;
  CHECK_THROWS_AS(event.wait(), std::logic_error);
}

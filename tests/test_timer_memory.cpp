// A timed wait whose timer cannot be allocated (memory exhausted): the wait must end with a
// clear result, and nothing it linked may be left behind. This executable replaces the aligned
// operator new (a worker's timer heap grows through it, 64-byte lines) so that a test can make
// the next such allocation on its thread fail.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <new>

#include <weft/weft.hpp>

#include "runtime_fixture.hpp"

namespace {

thread_local int aligned_allocations_to_fail = 0;
thread_local int aligned_allocations_failed = 0;

// Makes the next aligned allocation on this thread fail, for the scope of the guard.
class FailNextAlignedAllocation {
 public:
  FailNextAlignedAllocation() {
    aligned_allocations_to_fail = 1;
    aligned_allocations_failed = 0;
  }
  ~FailNextAlignedAllocation() { aligned_allocations_to_fail = 0; }
  FailNextAlignedAllocation(const FailNextAlignedAllocation&) = delete;
  FailNextAlignedAllocation& operator=(const FailNextAlignedAllocation&) = delete;
};

}  // namespace

void* operator new(std::size_t size, std::align_val_t align) {
  if (aligned_allocations_to_fail > 0) {
    --aligned_allocations_to_fail;
    ++aligned_allocations_failed;
    throw std::bad_alloc();
  }
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* memory = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded))
    return memory;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return operator new(size, align);
}
void operator delete(void* memory, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::align_val_t) noexcept {
  std::free(memory);
}
void operator delete[](void* memory, std::size_t, std::align_val_t) noexcept {
  std::free(memory);
}

// Runs `body` on a fiber of a fresh one-worker runtime. Its worker has armed no timer yet, so
// the first timed wait grows the timer heap: an aligned allocation (64-byte lines).
template <class Body>
void on_fresh_worker(Body body) {
  weft::Runtime runtime(weft_test::config_with(1));
  runtime.submit(body).get();
}

// Runs `wait` (a wait with a 60 s deadline) with the next aligned allocation failing: that
// must be the wait's timer, and the wait must end long before the deadline.
template <class Wait>
void with_timer_unallocatable(Wait wait) {
  const auto start = std::chrono::steady_clock::now();
  {
    FailNextAlignedAllocation fail;
    wait();
    CHECK(aligned_allocations_failed == 1);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("a wait whose timer cannot be allocated times out at once and leaves the queue sound") {
  on_fresh_worker([] {
    weft::Queue<int> queue;
    with_timer_unallocatable(
        [&] { CHECK_THROWS_AS((void)queue.get(std::chrono::seconds(60)), weft::TimeoutError); });
    // The getter is no longer listed: an item put now is kept for the next get, not handed to
    // a waiter whose frame is gone.
    queue.put_nowait(7);
    CHECK(queue.qsize() == 1);
    CHECK(queue.get() == 7);
    // Timers work again once memory is back.
    CHECK_THROWS_AS((void)queue.get(std::chrono::milliseconds(5)), weft::TimeoutError);
  });
}

// Pins the behaviour rather than the fix: a sleep links no waiter, so letting the exception
// through was already safe; what must not happen is an early return.
TEST_CASE("a sleep whose timer cannot be allocated fails instead of ending early") {
  on_fresh_worker([] {
    with_timer_unallocatable(
        [] { CHECK_THROWS_AS(weft::sleep(std::chrono::seconds(60)), std::bad_alloc); });
    weft::sleep(std::chrono::milliseconds(1));
  });
}

TEST_CASE("a Timeout scope whose timer cannot be allocated expires at once") {
  on_fresh_worker([] {
    weft::Promise<int> never;
    weft::Future<int> result = never.get_future();
    // The wait has no deadline of its own, only the scope's: without the scope's expiry it
    // would end as if the future were done.
    with_timer_unallocatable([&] {
      CHECK_THROWS_AS(weft::timeout(std::chrono::seconds(60), [&] { return result.get(); }),
                      weft::TimeoutError);
    });
    never.set_value(3);
    CHECK(result.get() == 3);
  });
}

TEST_CASE("a Timeout scope inside uncancellable whose timer cannot be allocated still expires") {
  on_fresh_worker([] {
    weft::Queue<int> queue;
    bool timed_out = false;
    weft::uncancellable([&] {
      // The scope counts inside the section (it was opened there), but a cancellation does
      // not: the expiry has to end the wait itself, or it waits for an item forever.
      with_timer_unallocatable([&] {
        try {
          weft::timeout(std::chrono::seconds(60), [&] { (void)queue.get(); });
        } catch (const weft::TimeoutError&) {
          timed_out = true;
        }
      });
    });
    CHECK(timed_out);
  });
}

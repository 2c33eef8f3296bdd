#include <atomic>
#include <stdexcept>
#include <thread>

#include "runtime_fixture.hpp"

using weft_test::in_runtimes;
using weft_test::with_runtimes;

TEST_CASE("a promise fulfils a future across tasks") {
  in_runtimes([] {
    weft::Promise<int> p;
    weft::Future<int> f = p.get_future();
    weft::Task<int> consumer = weft::spawn([&] { return f.get() * 2; });
    weft::Task<void> producer = weft::spawn([&] { p.set_value(21); });
    producer.get();
    CHECK(consumer.get() == 42);
  });
}

TEST_CASE("set_exception reaches the waiter, a second set throws InvalidStateError") {
  in_runtimes([] {
    weft::Promise<int> p;
    weft::Future<int> f = p.get_future();
    p.set_exception(std::make_exception_ptr(std::logic_error("bad")));
    CHECK(f.ready());
    CHECK_THROWS_WITH_AS(f.get(), "bad", std::logic_error);
    CHECK_THROWS_AS(p.set_value(1), weft::InvalidStateError);
  });
}

TEST_CASE("get_future may be called once, get once") {
  weft::Promise<int> p;
  weft::Future<int> f = p.get_future();
  CHECK_THROWS_AS((void)p.get_future(), weft::InvalidStateError);
  p.set_value(4);
  CHECK(f.get() == 4);
  CHECK_THROWS_AS(f.get(), weft::InvalidStateError);
}

TEST_CASE("a promise dropped unsatisfied breaks its future") {
  weft::Future<int> f;
  {
    weft::Promise<int> p;
    f = p.get_future();
  }
  CHECK(f.ready());
  CHECK_THROWS_AS(f.get(), weft::InvalidStateError);
}

TEST_CASE("a plain thread blocks in Future::get until a fiber sets the value") {
  with_runtimes([](weft::Runtime& runtime) {
    weft::Promise<std::string> p;
    weft::Future<std::string> f = p.get_future();
    weft::Task<void> setter = runtime.spawn([&] {
      weft::yield_now();
      p.set_value("from a fiber");
    });
    CHECK(f.get() == "from a fiber");
    setter.get();  // a plain thread may await a task too
  });
}

TEST_CASE("a fiber waits for a value set by a plain thread") {
  in_runtimes([] {
    weft::Promise<int> p;
    weft::Future<int> f = p.get_future();
    std::thread setter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      p.set_value(8);
    });
    CHECK(f.get() == 8);
    setter.join();
  });
}

TEST_CASE("Promise<void> and move-only values") {
  in_runtimes([] {
    weft::Promise<void> done;
    weft::Future<void> f = done.get_future();
    weft::Promise<std::unique_ptr<int>> boxed;
    weft::Future<std::unique_ptr<int>> g = boxed.get_future();
    weft::Task<void> t = weft::spawn([&] {
      done.set_value();
      boxed.set_value(std::make_unique<int>(5));
    });
    f.get();
    CHECK(*g.get() == 5);
    t.get();
  });
}

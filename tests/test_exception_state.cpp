// The C++ runtime's per-thread exception state travels with each fiber: a fiber that parks in a
// catch block rethrows its own exception, and std::uncaught_exceptions() is right everywhere.
#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;

TEST_CASE("a fiber that parks inside a catch block rethrows its own exception") {
  in_runtimes([] {
    std::atomic<int> wrong{0};
    std::vector<weft::Task<void>> tasks;
    for (int i = 0; i < 500; ++i)
      tasks.push_back(weft::spawn([i, &wrong] {
        try {
          try {
            throw std::runtime_error(std::to_string(i));
          } catch (...) {
            weft::sleep(std::chrono::microseconds(i % 7 * 100));  // others catch meanwhile
            weft::yield_now();
            throw;
          }
        } catch (const std::runtime_error& e) {
          if (e.what() != std::to_string(i)) ++wrong;
        }
        // And std::current_exception() inside a handler, across a park.
        try {
          throw i;
        } catch (int) {
          weft::yield_now();
          try {
            std::rethrow_exception(std::current_exception());
          } catch (int mine) {
            if (mine != i) ++wrong;
          }
        }
      }));
    weft::gather_all(tasks);
    CHECK(wrong.load() == 0);
  });
}

TEST_CASE("std::uncaught_exceptions stays right when fibers park in destructors while unwinding") {
  in_runtimes([] {
    struct ParksOnExit {
      std::atomic<int>& wrong;
      ~ParksOnExit() {
        if (std::uncaught_exceptions() != 1) ++wrong;
        weft::sleep(100us);
        if (std::uncaught_exceptions() != 1) ++wrong;
      }
    };
    std::atomic<int> wrong{0};
    std::vector<weft::Task<void>> tasks;
    for (int i = 0; i < 300; ++i)
      tasks.push_back(weft::spawn([&] {
        try {
          ParksOnExit parks{wrong};
          weft::yield_now();
          throw std::runtime_error("unwind");
        } catch (const std::runtime_error&) {
          if (std::uncaught_exceptions() != 0) ++wrong;
        }
        weft::sleep(100us);
        if (std::uncaught_exceptions() != 0) ++wrong;
      }));
    weft::gather_all(tasks);
    // Later fibers, on every worker, see a clean state.
    std::vector<weft::Task<int>> probes;
    for (int i = 0; i < 100; ++i)
      probes.push_back(weft::spawn([] {
        weft::sleep(50us);
        return std::uncaught_exceptions();
      }));
    for (int n : weft::gather_all(probes)) CHECK(n == 0);
    CHECK(wrong.load() == 0);
  });
}

// asyncio's first two ideas: create tasks and await them; cancel one that runs too long and let
// it clean up. Prints the same lines as the asyncio version:
//   worker 1 done
//   worker 2 done
//   sum = 3
//   long task cleaning up
//   long task cancelled: True
#include <chrono>
#include <cstdio>

#include <weft/weft.hpp>

int main() {
  return weft::run(weft::Config::from_env(), [] {
    auto worker = [](int id) {
      return weft::spawn([id] {
        weft::yield_now();
        std::printf("worker %d done\n", id);
        return id;
      });
    };
    weft::Task<int> a = worker(1);
    int first = a.get();
    weft::Task<int> b = worker(2);
    std::printf("sum = %d\n", first + b.get());

    weft::Task<void> slow = weft::spawn([] {
      try {
        weft::sleep(std::chrono::hours(1));
      } catch (const weft::CancelledError&) {
        std::printf("long task cleaning up\n");
        throw;
      }
    });
    weft::yield_now();
    slow.cancel();
    try {
      slow.get();
    } catch (const weft::CancelledError&) {
    }
    std::printf("long task cancelled: %s\n", slow.cancelled() ? "True" : "False");
    return 0;
  });
}

// asyncio.wait_for and asyncio.timeout: give up on work that takes too long.
//
//   async def slow():
//       await asyncio.sleep(10)
//       return 42
//
//   async def main():
//       try:
//           await asyncio.wait_for(slow(), timeout=1)
//       except TimeoutError:
//           print("wait_for: gave up after 1 s")
//       async with asyncio.timeout(0.5) as scope:
//           scope.reschedule(asyncio.get_running_loop().time() + 1)  # needs more time
//           await asyncio.sleep(0.7)
//       print("timeout: finished in time after reschedule")
//       try:
//           async with asyncio.timeout(0.3):
//               await asyncio.sleep(10)
//       except TimeoutError:
//           print("timeout: expired after 0.3 s")
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

int slow() {
  weft::sleep(10s);
  return 42;
}

double seconds_since(weft::TimePoint start) {
  return std::chrono::duration<double>(weft::now() - start).count();
}

int main() {
  return weft::run([] {
    weft::TimePoint start = weft::now();
    try {
      // On expiry wait_for cancels the task, waits for it to end, then throws TimeoutError.
      int answer = weft::wait_for(1s, weft::spawn(slow));
      std::printf("wait_for: got %d\n", answer);
    } catch (const weft::TimeoutError&) {
      std::printf("wait_for: gave up after %.1f s\n", seconds_since(start));
    }

    // weft::timeout runs the lambda inline, in this fiber, under a deadline.
    start = weft::now();
    weft::timeout(500ms, [&](weft::Timeout& scope) {
      scope.reschedule(weft::now() + 1s);  // needs more time than first planned
      weft::sleep(700ms);
    });
    std::printf("timeout: finished in %.1f s after reschedule\n", seconds_since(start));

    start = weft::now();
    try {
      weft::timeout(300ms, [] { weft::sleep(10s); });
    } catch (const weft::TimeoutError&) {
      std::printf("timeout: expired after %.1f s\n", seconds_since(start));
    }
    return 0;
  });
}

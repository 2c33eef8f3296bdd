// asyncio.Semaphore: at most 3 of 10 requests in flight, and at most 10 starts a second (one
// every 100 ms). examples/rate_limiter.cpp limits the rate alone, with a burst.
//
//   async def main():
//       slots, gate = asyncio.Semaphore(3), asyncio.Lock()
//       start, last_start, in_flight, max_in_flight = time.monotonic(), 0, 0, 0
//       async def request(i):
//           nonlocal last_start, in_flight, max_in_flight
//           async with slots:                 # wait for one of the 3 slots
//               async with gate:              # then start 0.1 s after the previous start
//                   await asyncio.sleep(last_start + 0.1 - time.monotonic())
//                   last_start = time.monotonic()
//                   in_flight += 1
//                   max_in_flight = max(max_in_flight, in_flight)
//                   print(f"{last_start - start:.1f} s: request {i} starts, {in_flight} in flight")
//               await asyncio.sleep(0.4)      # the request itself
//               in_flight -= 1
//       await asyncio.gather(*(request(i) for i in range(1, 11)))
//       print("max in flight:", max_in_flight)
//       print(f"10 requests in {time.monotonic() - start:.1f} s")
//
//   asyncio.run(main())
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

int main() {
  return weft::run([] {
    weft::Semaphore slots(3);  // 3 permits: a 4th request waits until one is given back
    weft::Lock gate;           // one request at a time sets its start time
    const weft::TimePoint start = weft::now();
    weft::TimePoint last_start = start - 1s;  // guarded by gate, like max_in_flight
    std::atomic<int> in_flight = 0;           // requests run on several threads
    int max_in_flight = 0;
    auto request = [&](int i) {
      std::lock_guard<weft::Semaphore> slot(slots);  // async with slots:
      {
        std::lock_guard<weft::Lock> pass(gate);  // held while it sleeps: the others queue
        weft::sleep_until(last_start + 100ms);   // the rate: 100 ms after the previous start
        last_start = weft::now();
        const int now_in_flight = ++in_flight;
        max_in_flight = std::max(max_in_flight, now_in_flight);
        std::printf("%.1f s: request %d starts, %d in flight\n",
                    std::chrono::duration<double>(last_start - start).count(), i, now_in_flight);
      }
      weft::sleep(400ms);  // the request itself
      --in_flight;
    };
    std::vector<weft::Task<void>> requests;
    // eager: each request runs at once up to its first wait, so they queue up in order.
    for (int i = 1; i <= 10; ++i)
      requests.push_back(weft::spawn(weft::eager, [&request, i] { request(i); }));
    weft::gather_all(requests);
    std::printf("max in flight: %d\n", max_in_flight);
    std::printf("10 requests in %.1f s\n",
                std::chrono::duration<double>(weft::now() - start).count());
    return 0;
  });
}

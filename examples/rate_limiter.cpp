// A rate limiter: at most 5 requests a second, after a burst of 3, as a token bucket on timers.
//
//   class TokenBucket:
//       def __init__(self, rate, burst):
//           self.rate, self.burst, self.tokens, self.last = rate, burst, burst, time.monotonic()
//       async def acquire(self):
//           now = time.monotonic()
//           self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
//           self.last = now
//           self.tokens -= 1                    # below zero: a debt later callers wait behind
//           if self.tokens < 0:
//               await asyncio.sleep(-self.tokens / self.rate)
//
//   async def main():
//       bucket, start = TokenBucket(rate=5, burst=3), time.monotonic()
//       async def request(i):
//           await bucket.acquire()
//           print(f"request {i} at {time.monotonic() - start:.1f} s")
//       await asyncio.gather(*(request(i) for i in range(1, 9)))
//       print(f"8 requests in {time.monotonic() - start:.1f} s")
//
//   asyncio.run(main())
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include <weft/weft.hpp>

class TokenBucket {
 public:
  TokenBucket(double per_second, double burst)
      : rate_(per_second), burst_(burst), tokens_(burst), last_(weft::now()) {}

  // Takes a token, parking the fiber until it is due. Callers are served in arrival order.
  void acquire() {
    weft::TimePoint due;
    {
      // Tasks run on several threads; the mutex guards the bucket and is never held while parked.
      std::lock_guard<std::mutex> lock(mutex_);
      const weft::TimePoint now = weft::now();
      const double refill = std::chrono::duration<double>(now - last_).count() * rate_;
      tokens_ = std::min(burst_, tokens_ + refill);
      last_ = now;
      tokens_ -= 1;
      const double wait = tokens_ < 0 ? -tokens_ / rate_ : 0;
      due = now + std::chrono::duration_cast<weft::Duration>(std::chrono::duration<double>(wait));
    }
    weft::sleep_until(due);
  }

 private:
  std::mutex mutex_;
  double rate_, burst_, tokens_;
  weft::TimePoint last_;
};

int main() {
  return weft::run([] {
    TokenBucket bucket(5, 3);
    const weft::TimePoint start = weft::now();
    auto seconds = [&] { return std::chrono::duration<double>(weft::now() - start).count(); };
    std::vector<weft::Task<void>> requests;
    for (int i = 1; i <= 8; ++i) {
      // eager: the task runs at once up to its first wait, so requests queue at the bucket in
      // the order they are made (the burst of 3 may still print in any order).
      requests.push_back(weft::spawn(weft::eager, [&, i] {
        bucket.acquire();
        std::printf("request %d at %.1f s\n", i, seconds());
      }));
    }
    weft::gather_all(requests);
    std::printf("8 requests in %.1f s\n", seconds());
    return 0;
  });
}

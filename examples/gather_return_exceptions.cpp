// asyncio.gather(..., return_exceptions=True): one task fails, the others still deliver, and
// every outcome is reported instead of the first error being raised.
//
//   async def fetch(i):
//       await asyncio.sleep(0.1 * i)
//       if i == 2:
//           raise RuntimeError(f"fetch {i} failed")
//       return i * 10
//
//   async def main():
//       results = await asyncio.gather(*(fetch(i) for i in (1, 2, 3)), return_exceptions=True)
//       for i, r in enumerate(results, 1):
//           if isinstance(r, Exception): print(f"fetch {i}: error: {r}")
//           else: print(f"fetch {i}: ok {r}")
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

int fetch(int i) {
  weft::sleep(i * 100ms);
  if (i == 2) throw std::runtime_error("fetch " + std::to_string(i) + " failed");
  return i * 10;
}

int main() {
  return weft::run([] {
    std::vector<weft::Task<int>> tasks;
    for (int i = 1; i <= 3; ++i) tasks.push_back(weft::spawn([i] { return fetch(i); }));

    std::vector<weft::Result<int>> results = weft::gather_all(tasks, weft::return_exceptions);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        std::printf("fetch %zu: ok %d\n", i + 1, results[i].value());
        continue;
      }
      try {
        std::rethrow_exception(results[i].exception());
      } catch (const std::exception& e) {
        std::printf("fetch %zu: error: %s\n", i + 1, e.what());
      }
    }
    return 0;
  });
}

// Async generators: a producer that waits between items, read with `async for`, collected by
// a comprehension, and closed early (its `finally` runs at once).
//
//   async def ticker(n):
//       try:
//           for i in range(n):
//               await asyncio.sleep(0.1)
//               yield i
//       finally:
//           print(f"ticker({n}) closed")
//
//   async def main():
//       async for t in ticker(3):
//           print("tick", t)
//       evens = [t async for t in ticker(6) if t % 2 == 0]
//       print("evens:", evens)
//       async with contextlib.aclosing(ticker(100)) as ticks:
//           async for t in ticks:
//               if t == 2:
//                   break
//               print("tick", t)
//       print("after break")
//
//   asyncio.run(main())
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <vector>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

// RAII is C++'s `finally`: it runs when the body ends and when the generator is closed early.
struct SayClosed {
  int n;
  ~SayClosed() { std::printf("ticker(%d) closed\n", n); }
};

weft::Generator<int> ticker(int n) {
  return weft::Generator<int>([n](weft::Yield<int>& yield) {
    SayClosed closed{n};
    for (int i = 0; i < n; ++i) {
      weft::sleep(100ms);
      yield(i);  // hands i to the loop and waits until the next item is asked for
    }
  });
}

int main() {
  return weft::run([] {
    for (int t : ticker(3)) std::printf("tick %d\n", t);

    std::vector<int> evens;  // the comprehension, written as a loop
    for (int t : ticker(6)) {
      if (t % 2 == 0) evens.push_back(t);
    }
    std::printf("evens: [");
    for (std::size_t i = 0; i < evens.size(); ++i) std::printf("%s%d", i ? ", " : "", evens[i]);
    std::printf("]\n");

    // Leaving the loop destroys the generator, which stops the body at its yield and waits
    // for its cleanup: no aclosing() needed.
    for (int t : ticker(100)) {
      if (t == 2) break;
      std::printf("tick %d\n", t);
    }
    std::printf("after break\n");
    return 0;
  });
}

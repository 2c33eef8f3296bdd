// asyncio.gather: run three "downloads" at once; the whole takes as long as the slowest one
// (2 s), not the sum (4.5 s).
//
//   async def download(name, ms):
//       await asyncio.sleep(ms / 1000)
//       return f"{name} ({ms} ms)"
//
//   async def main():
//       start = time.monotonic()
//       a, b, c = await asyncio.gather(download("a.txt", 1000), download("b.txt", 2000),
//                                      download("c.txt", 1500))
//       print("downloaded", a); print("downloaded", b); print("downloaded", c)
//       print(f"elapsed {time.monotonic() - start:.1f} s")
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <string>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

// An ordinary function: weft::sleep parks the calling fiber, so no `async` is needed.
std::string download(const std::string& name, std::chrono::milliseconds took) {
  weft::sleep(took);
  return name + " (" + std::to_string(took.count()) + " ms)";
}

int main() {
  return weft::run([] {
    const weft::TimePoint start = weft::now();
    // gather spawns each callable as a task, then waits for all of them.
    auto [a, b, c] =
        weft::gather([] { return download("a.txt", 1s); }, [] { return download("b.txt", 2s); },
                     [] { return download("c.txt", 1500ms); });
    std::printf("downloaded %s\n", a.c_str());
    std::printf("downloaded %s\n", b.c_str());
    std::printf("downloaded %s\n", c.c_str());
    const std::chrono::duration<double> elapsed = weft::now() - start;
    std::printf("elapsed %.1f s\n", elapsed.count());
    return 0;
  });
}

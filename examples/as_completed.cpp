// asyncio.as_completed: handle results in the order the tasks finish, not the order they were
// started.
//
//   async def job(name, ms):
//       await asyncio.sleep(ms / 1000)
//       return name
//
//   async def main():
//       tasks = [asyncio.create_task(job(name, ms))
//                for name, ms in [("slow", 600), ("fast", 200), ("medium", 400)]]
//       for next_done in asyncio.as_completed(tasks):
//           print("finished:", await next_done)
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

std::string job(std::string name, std::chrono::milliseconds took) {
  weft::sleep(took);
  return name;
}

int main() {
  return weft::run([] {
    std::vector<weft::Task<std::string>> tasks;
    tasks.push_back(weft::spawn([] { return job("slow", 600ms); }));
    tasks.push_back(weft::spawn([] { return job("fast", 200ms); }));
    tasks.push_back(weft::spawn([] { return job("medium", 400ms); }));

    // Each step of the loop parks until the next task is done, and hands out that task.
    for (weft::Task<std::string>& done : weft::as_completed(tasks)) {
      std::printf("finished: %s\n", done.get().c_str());
    }
    return 0;
  });
}

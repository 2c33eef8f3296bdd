// asyncio.TaskGroup: children are joined together; the first one that fails cancels its
// siblings, and the errors come back as an ExceptionGroup.
//
//   async def worker(name, seconds, fail=False):
//       try:
//           await asyncio.sleep(seconds)
//           if fail:
//               raise RuntimeError(f"{name} failed")
//           print(f"{name} finished")
//       except asyncio.CancelledError:
//           print(f"{name} was cancelled")
//           raise
//
//   async def main():
//       try:
//           async with asyncio.TaskGroup() as tg:
//               tg.create_task(worker("fast", 0.1))
//               tg.create_task(worker("broken", 0.2, fail=True))
//               slow = tg.create_task(worker("slow", 5))
//       except* RuntimeError as group:
//           for e in group.exceptions:
//               print("caught:", e)
//       print("slow cancelled:", slow.cancelled())
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

void worker(const std::string& name, std::chrono::milliseconds took, bool fail = false) {
  try {
    weft::sleep(took);
    if (fail) throw std::runtime_error(name + " failed");
    std::printf("%s finished\n", name.c_str());
  } catch (const weft::CancelledError&) {
    std::printf("%s was cancelled\n", name.c_str());
    throw;  // a cancelled task must let CancelledError out
  }
}

int main() {
  return weft::run([] {
    weft::TaskGroup tg;
    tg.spawn([] { worker("fast", 100ms); });
    tg.spawn([] { worker("broken", 200ms, true); });
    weft::Task<void> slow = tg.spawn([] { worker("slow", 5s); });
    try {
      tg.join();  // waits for every child; throws if any failed
    } catch (const weft::ExceptionGroup& group) {
      for (const std::exception_ptr& error : group.exceptions()) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          std::printf("caught: %s\n", e.what());
        }
      }
    }
    std::printf("slow cancelled: %s\n", slow.cancelled() ? "True" : "False");
    return 0;
  });
}

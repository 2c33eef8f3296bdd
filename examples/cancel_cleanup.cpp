// Cancelling a long-running task: it gets CancelledError at its next suspension point, cleans
// up, and lets the error out so that its awaiter sees it was cancelled.
//
//   async def long_job():
//       try:
//           step = 0
//           while True:
//               step += 1
//               print(f"working (step {step})")
//               await asyncio.sleep(0.2)
//       except asyncio.CancelledError:
//           print("cleaning up")
//           raise
//       finally:
//           print("temp file removed")
//
//   async def main():
//       task = asyncio.create_task(long_job())
//       await asyncio.sleep(0.5)
//       task.cancel()
//       try:
//           await task
//       except asyncio.CancelledError:
//           print("main: the task was cancelled:", task.cancelled())
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

// RAII is C++'s `finally`: the destructor runs however the scope is left, cancellation included.
struct TempFile {
  TempFile() = default;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::printf("temp file removed\n"); }
};

void long_job() {
  TempFile scratch;
  try {
    for (int step = 1;; ++step) {
      std::printf("working (step %d)\n", step);
      weft::sleep(200ms);  // a suspension point: this is where CancelledError arrives
    }
  } catch (const weft::CancelledError&) {
    std::printf("cleaning up\n");
    throw;  // swallowing it would make the task look like it finished normally
  }
}

int main() {
  return weft::run([] {
    weft::Task<void> task = weft::spawn(long_job);
    weft::sleep(500ms);
    task.cancel();
    try {
      task.get();
    } catch (const weft::CancelledError&) {
      std::printf("main: the task was cancelled: %s\n", task.cancelled() ? "True" : "False");
    }
    return 0;
  });
}

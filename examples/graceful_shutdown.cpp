// A service that runs until SIGTERM or Ctrl-C, then shuts down gracefully: weft::run cancels
// the main task, cleanup runs, and the process ends "killed by SIGTERM" (exit status 143 in a
// shell; 130 for Ctrl-C), as a Python program ends after KeyboardInterrupt. SIGHUP is handled
// by a fiber of its own, as loop.add_signal_handler does.
//
//   async def worker(name):
//       try:
//           while True:
//               await asyncio.sleep(0.2)
//       finally:
//           print(f"{name} stopped")
//
//   async def main():
//       loop = asyncio.get_running_loop()
//       loop.add_signal_handler(signal.SIGHUP, lambda: print("SIGHUP: reloading"))
//       try:
//           async with asyncio.TaskGroup() as tg:
//               tg.create_task(worker("worker 1"))
//               tg.create_task(worker("worker 2"))
//               print(f"ready (pid {os.getpid()}); press Ctrl-C or send SIGTERM")
//       except asyncio.CancelledError:
//           print("shutting down")
//           await asyncio.sleep(0.1)  # flush buffers, close connections, ...
//           print("cleanup done")
//           raise
//
//   asyncio.run(main())   # Ctrl-C cancels main
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include <weft/signal.hpp>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

// Output may go to a file or a pipe: flush each line.
void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

void worker(const char* name) {
  struct Stopped {
    const char* name;
    ~Stopped() { say(std::string(name) + " stopped\n"); }
  } stopped{name};
  for (;;) weft::sleep(200ms);  // CancelledError arrives here
}

// Not a local of main's function: a handler may run until it is removed or the runtime has
// shut down, which is after that function has returned. Atomic: two handler fibers may run at
// once, on different workers.
std::atomic<int> reloads{0};

int main() {
  return weft::run([] {
    weft::add_signal_handler(
        SIGHUP, [] { say("SIGHUP: reloading (" + std::to_string(++reloads) + ")\n"); });
    try {
      weft::TaskGroup workers;
      workers.spawn([] { worker("worker 1"); });
      workers.spawn([] { worker("worker 2"); });
      say("ready (pid " + std::to_string(getpid()) + "); press Ctrl-C or send SIGTERM\n");
      workers.join();
    } catch (const weft::CancelledError& error) {
      // The TaskGroup has cancelled and joined the workers on its way out.
      say(std::string("shutting down: ") + error.what() + "\n");
      weft::uncancellable([] { weft::sleep(100ms); });  // cleanup that waits
      say("cleanup done\n");
      throw;  // run() then ends the process by the signal
    }
    return 0;
  });
}

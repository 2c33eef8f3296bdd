// `async with`: in weft it is plain RAII. The constructor and destructor may park the fiber
// (here each one sleeps, as connecting and disconnecting would), and the destructor runs on
// every way out of the block, an exception included.
//
//   class Connection:
//       async def __aenter__(self):
//           await asyncio.sleep(0.1); print("connected"); return self
//       async def __aexit__(self, *exc_info):
//           await asyncio.sleep(0.1); print("disconnected")
//       async def query(self, q):
//           await asyncio.sleep(0.1)
//           if q == "bad": raise RuntimeError("bad query")
//           return f"rows for {q}"
//
//   async def main():
//       async with Connection() as db:
//           print(await db.query("users"))
//       try:
//           async with Connection() as db:
//               print(await db.query("bad"))
//       except RuntimeError as e:
//           print("caught:", e)
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

class Connection {
 public:
  Connection() {
    weft::sleep(100ms);
    std::printf("connected\n");
  }
  ~Connection() {
    // A destructor must not throw, so the wait runs uncancellable: a cancel() that comes while
    // disconnecting is raised at this task's next suspension point instead.
    weft::uncancellable([] { weft::sleep(100ms); });
    std::printf("disconnected\n");
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::string query(const std::string& q) {
    weft::sleep(100ms);
    if (q == "bad") throw std::runtime_error("bad query");
    return "rows for " + q;
  }
};

int main() {
  return weft::run([] {
    {
      Connection db;
      std::printf("%s\n", db.query("users").c_str());
    }
    try {
      Connection db;
      std::printf("%s\n", db.query("bad").c_str());
    } catch (const std::runtime_error& e) {  // db was disconnected before we got here
      std::printf("caught: %s\n", e.what());
    }
    return 0;
  });
}

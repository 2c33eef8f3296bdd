// asyncio.Queue: 2 producers put items, 3 consumers get and process them; join() waits until
// every item is done, then shutdown() (Python 3.13) stops the consumers.
//
//   async def producer(name, first, queue):
//       for item in range(first, first + 5):
//           await asyncio.sleep(0.05)
//           await queue.put(item)
//           print(f"{name} put {item}")
//
//   async def consumer(name, queue):
//       processed = 0
//       while True:
//           try:
//               item = await queue.get()
//           except asyncio.QueueShutDown:
//               print(f"{name} stopped (processed {processed})")
//               return processed
//           await asyncio.sleep(0.1)  # "process" the item
//           print(f"{name} processed {item}")
//           processed += 1
//           queue.task_done()
//
//   async def main():
//       queue = asyncio.Queue()
//       consumers = [asyncio.create_task(consumer(f"consumer {i}", queue)) for i in (1, 2, 3)]
//       await asyncio.gather(producer("producer 1", 101, queue), producer("producer 2", 201,
//       queue)) await queue.join() print("queue.join() returned") queue.shutdown() counts = await
//       asyncio.gather(*consumers) print(f"all {sum(counts)} items processed")
//
//   asyncio.run(main())
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include <weft/weft.hpp>

using namespace std::chrono_literals;

void producer(int id, weft::Queue<int>& queue) {
  for (int item = id * 100 + 1; item <= id * 100 + 5; ++item) {
    weft::sleep(50ms);
    queue.put(item);  // an unbounded queue never makes put() wait
    std::printf("producer %d put %d\n", id, item);
  }
}

int consumer(int id, weft::Queue<int>& queue) {
  int processed = 0;
  for (;;) {
    int item = 0;
    try {
      item = queue.get();                   // parks this fiber while the queue is empty
    } catch (const weft::QueueShutDown&) {  // shut down and empty: time to stop
      std::printf("consumer %d stopped (processed %d)\n", id, processed);
      return processed;
    }
    weft::sleep(100ms);  // "process" the item
    std::printf("consumer %d processed %d\n", id, item);
    ++processed;
    queue.task_done();  // one item finished: join() counts these
  }
}

int main() {
  return weft::run([] {
    weft::Queue<int> queue;  // Queue<int>(4) would make put() wait while 4 items are queued
    std::vector<weft::Task<int>> consumers;
    for (int id = 1; id <= 3; ++id)
      consumers.push_back(weft::spawn([id, &queue] { return consumer(id, queue); }));
    weft::gather([&] { producer(1, queue); }, [&] { producer(2, queue); });
    queue.join();  // parks until every item put has had its task_done()
    std::printf("queue.join() returned\n");
    // shutdown() makes get() throw QueueShutDown once the queue is empty. Before 3.13: cancel()
    // each consumer task, or put one sentinel per consumer (say -1) that tells it to return.
    queue.shutdown();
    const std::vector<int> counts = weft::gather_all(consumers);
    std::printf("all %d items processed\n", std::accumulate(counts.begin(), counts.end(), 0));
    return 0;
  });
}

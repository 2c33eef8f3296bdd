#include "sched/block_cache.hpp"

#include <atomic>
#include <mutex>
#include <new>
#include <utility>

#include "sync/spin_lock.hpp"

namespace weft::sched {
namespace {

constexpr std::size_t kGranule = 64;
constexpr unsigned kClasses = 16;  // 64 .. 1024 bytes
// A thread keeps up to two batches per class at hand (the list it takes from and gives to, and a
// full spare) and trades whole batches with the depot, so a producer thread (that allocates) and
// a consumer thread (that frees) meet there once per batch instead of in malloc's arena locks
// once per block. No batch is ever walked to split it: each block in it is a cache miss.
constexpr std::size_t kBatch = 128;
// Per class; beyond that memory goes back to malloc. 1024 batches keep the blocks of a burst of
// 100,000 tasks (the timers bench): handing them to malloc and back made each round grow and
// trim malloc's arena, an mprotect (the process's memory-map lock, taken for writing) and a page
// fault per 4 KiB. At most 128 Ki blocks per class stay cached (40 MiB for a 320-byte block).
constexpr std::size_t kDepotBatches = 1024;

struct FreeBlock {
  FreeBlock* next;
};

// Whole batches of free blocks, per class, shared by every thread of the process.
class Depot {
 public:
  bool put(unsigned cls, FreeBlock* batch) noexcept {
    std::lock_guard guard(lock_);
    if (count_[cls] == kDepotBatches) return false;
    batches_[cls][count_[cls]++] = batch;
    return true;
  }
  FreeBlock* take(unsigned cls) noexcept {
    std::lock_guard guard(lock_);
    return count_[cls] ? batches_[cls][--count_[cls]] : nullptr;
  }

 private:
  // Guards batches_ and count_. Workers trade batches here: a spin lock for the reason
  // InjectionQueue's is one (a worker asleep in futex() halts its vCPU).
  sync::SpinLock lock_;
  FreeBlock* batches_[kClasses][kDepotBatches] = {};
  std::size_t count_[kClasses] = {};
};

// Net allocations of threads that have exited, plus a registry of the live caches so that
// live_block_memory() can sum them. Only touched at thread start/exit and by the leak check.
struct CacheRegistry {
  std::mutex mutex;  // guards head and retired
  struct ThreadCacheLink* head = nullptr;
  std::int64_t retired = 0;
  Depot depot;
};

CacheRegistry& registry() {
  // Trivially destructible members only (libstdc++'s std::mutex is), so threads that outlive
  // static destruction can still use it.
  static CacheRegistry instance;
  return instance;
}

void free_batch(FreeBlock* batch) noexcept {
  while (batch) {
    FreeBlock* next = batch->next;
    ::operator delete (batch, std::align_val_t{kGranule});
    batch = next;
  }
}

struct ThreadCacheLink {
  ThreadCacheLink* next = nullptr;
  ThreadCacheLink* prev = nullptr;
  std::atomic<std::int64_t> live{0};  // single writer (the owning thread)
};

class ThreadCache {
 public:
  ThreadCache() {
    auto& r = registry();
    std::lock_guard guard(r.mutex);
    link_.next = r.head;
    if (link_.next) link_.next->prev = &link_;
    r.head = &link_;
  }
  ~ThreadCache() {
    for (unsigned cls = 0; cls < kClasses; ++cls) {
      free_batch(heads_[cls]);
      free_batch(spares_[cls]);
    }
    auto& r = registry();
    std::lock_guard guard(r.mutex);
    r.retired += link_.live.load(std::memory_order_relaxed);
    if (link_.prev)
      link_.prev->next = link_.next;
    else
      r.head = link_.next;
    if (link_.next) link_.next->prev = link_.prev;
  }
  ThreadCache(const ThreadCache&) = delete;
  ThreadCache& operator=(const ThreadCache&) = delete;

  void* take(unsigned cls) noexcept {
    if (!heads_[cls]) {
      heads_[cls] =
          spares_[cls] ? std::exchange(spares_[cls], nullptr) : registry().depot.take(cls);
      if (!heads_[cls]) return nullptr;
      counts_[cls] = kBatch;
    }
    FreeBlock* block = heads_[cls];
    heads_[cls] = block->next;
    --counts_[cls];
    // The next block is likely a miss (it was freed on another thread, or long ago): start
    // bringing it in now, so the load of its link overlaps with what the caller does with this one.
    if (heads_[cls]) __builtin_prefetch(heads_[cls], 1);
    return block;
  }
  void give(void* memory, unsigned cls) noexcept {
    auto* block = static_cast<FreeBlock*>(memory);
    block->next = heads_[cls];
    heads_[cls] = block;
    if (++counts_[cls] < kBatch) return;
    // A full batch becomes the spare; the spare before it goes to the depot whole.
    if (FreeBlock* batch = std::exchange(spares_[cls], heads_[cls]))
      if (!registry().depot.put(cls, batch)) free_batch(batch);
    heads_[cls] = nullptr;
    counts_[cls] = 0;
  }
  void count(std::int64_t delta) noexcept {
    link_.live.store(link_.live.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

 private:
  FreeBlock* heads_[kClasses] = {};
  std::size_t counts_[kClasses] = {};  // blocks in heads_ (fewer than kBatch)
  FreeBlock* spares_[kClasses] = {};   // a full batch each, or nullptr
  ThreadCacheLink link_;
};

ThreadCache& this_thread_cache() {
  thread_local ThreadCache cache;
  return cache;
}

}  // namespace

void* allocate_block_memory(std::size_t size, std::size_t align, unsigned& size_class) {
  ThreadCache& cache = this_thread_cache();
  cache.count(1);
  if (align > kGranule || size > kClasses * kGranule) {
    size_class = kUncached;
    try {
      return ::operator new (size, std::align_val_t{align});
    } catch (...) {
      cache.count(-1);
      throw;
    }
  }
  const unsigned cls = static_cast<unsigned>((size + kGranule - 1) / kGranule - 1);
  size_class = cls;
  if (void* memory = cache.take(cls)) return memory;
  try {
    // On a cache line: a task block's first line holds what every switch reads (TaskBlock).
    return ::operator new ((cls + 1) * kGranule, std::align_val_t{kGranule});
  } catch (...) {
    cache.count(-1);
    throw;
  }
}

void free_block_memory(void* memory, std::size_t align, unsigned size_class) noexcept {
  ThreadCache& cache = this_thread_cache();
  cache.count(-1);
  if (size_class == kUncached) {
    ::operator delete (memory, std::align_val_t{align});
    return;
  }
  cache.give(memory, size_class);
}

std::int64_t live_block_memory() noexcept {
  auto& r = registry();
  std::lock_guard guard(r.mutex);
  std::int64_t total = r.retired;
  for (ThreadCacheLink* link = r.head; link; link = link->next)
    total += link->live.load(std::memory_order_relaxed);
  return total;
}

}  // namespace weft::sched

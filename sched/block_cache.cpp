#include "sched/block_cache.hpp"

#include <atomic>
#include <mutex>
#include <new>

namespace weft::sched {
namespace {

constexpr std::size_t kGranule = 64;
constexpr unsigned kClasses = 16;  // 64 .. 1024 bytes
constexpr std::size_t kMaxPerClass = 1024;

struct FreeBlock {
  FreeBlock* next;
};

// Net allocations of threads that have exited, plus a registry of the live caches so that
// live_block_memory() can sum them. Only touched at thread start/exit and by the leak check.
struct CacheRegistry;
CacheRegistry& registry();

class ThreadCache {
 public:
  ThreadCache();
  ~ThreadCache();
  void* take(unsigned cls) noexcept {
    FreeBlock* block = heads_[cls];
    if (!block) return nullptr;
    heads_[cls] = block->next;
    --counts_[cls];
    return block;
  }
  bool give(void* memory, unsigned cls) noexcept {
    if (counts_[cls] >= kMaxPerClass) return false;
    auto* block = static_cast<FreeBlock*>(memory);
    block->next = heads_[cls];
    heads_[cls] = block;
    ++counts_[cls];
    return true;
  }
  // Single writer (this thread); read by the leak check.
  void count(std::int64_t delta) noexcept {
    live_.store(live_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  std::int64_t live() const noexcept { return live_.load(std::memory_order_relaxed); }
  ThreadCache* next = nullptr;
  ThreadCache* prev = nullptr;

 private:
  FreeBlock* heads_[kClasses] = {};
  std::size_t counts_[kClasses] = {};
  std::atomic<std::int64_t> live_{0};
};

struct CacheRegistry {
  std::mutex mutex;  // guards the list and retired
  ThreadCache* head = nullptr;
  std::int64_t retired = 0;
};

CacheRegistry& registry() {
  // Trivially destructible members only (libstdc++'s std::mutex is), so threads that outlive
  // static destruction can still use it.
  static CacheRegistry instance;
  return instance;
}

ThreadCache::ThreadCache() {
  auto& r = registry();
  std::lock_guard guard(r.mutex);
  next = r.head;
  if (next) next->prev = this;
  r.head = this;
}

ThreadCache::~ThreadCache() {
  for (unsigned cls = 0; cls < kClasses; ++cls) {
    while (void* memory = take(cls)) ::operator delete(memory);
  }
  auto& r = registry();
  std::lock_guard guard(r.mutex);
  r.retired += live();
  if (prev)
    prev->next = next;
  else
    r.head = next;
  if (next) next->prev = prev;
}

ThreadCache& this_thread_cache() {
  thread_local ThreadCache cache;
  return cache;
}

}  // namespace

void* allocate_block_memory(std::size_t size, std::size_t align, unsigned& size_class) {
  ThreadCache& cache = this_thread_cache();
  cache.count(1);
  if (align > alignof(std::max_align_t) || size > kClasses * kGranule) {
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
    return ::operator new((cls + 1) * kGranule);
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
  if (!cache.give(memory, size_class)) ::operator delete(memory);
}

std::int64_t live_block_memory() noexcept {
  auto& r = registry();
  std::lock_guard guard(r.mutex);
  std::int64_t total = r.retired;
  for (ThreadCache* cache = r.head; cache; cache = cache->next) total += cache->live();
  return total;
}

}  // namespace weft::sched

#include "io/io_registry.hpp"

#include <new>
#include <utility>

#include "sched/waiter.hpp"

namespace weft::io {

IoRegistry::~IoRegistry() {
  for (auto& chunk : chunks_) {
    std::unique_ptr<IoSlot[]> owned(chunk.load(std::memory_order_relaxed));
  }
}

IoSlot* IoRegistry::find(std::uint32_t index) const noexcept {
  // acquire: pairs with the release store that published the chunk.
  IoSlot* chunk = chunks_[index / kChunkSize].load(std::memory_order_acquire);
  return chunk ? &chunk[index % kChunkSize] : nullptr;
}

IoSlot& IoRegistry::acquire(int fd) {
  IoSlot* slot;
  {
    std::lock_guard guard(mutex_);
    if (free_) {
      slot = free_;
      free_ = slot->next_free;
    } else {
      const std::uint32_t index = next_index_;
      if (index / kChunkSize >= kMaxChunks) throw std::bad_alloc();
      if (index % kChunkSize == 0) {
        auto chunk = std::make_unique<IoSlot[]>(kChunkSize);
        for (std::uint32_t i = 0; i < kChunkSize; ++i) chunk[i].index = index + i;
        chunks_[index / kChunkSize].store(chunk.release(), std::memory_order_release);
      }
      slot = find(index);
      ++next_index_;
    }
  }
  std::lock_guard guard(slot->lock);
  slot->fd = fd;
  slot->ready = 0;
  slot->closed = false;
  slot->hung_up.store(false, std::memory_order_relaxed);
  slot->reader = slot->writer = nullptr;
  slot->reactor.store(-1, std::memory_order_relaxed);
  open_.fetch_add(1, std::memory_order_relaxed);
  return *slot;
}

void IoRegistry::close(IoSlot& slot) noexcept {
  {
    std::lock_guard guard(slot.lock);
    ++slot.generation;
    slot.closed = true;
    slot.fd = -1;
    // Fired under the lock: a woken waiter takes the lock before it returns (see wait_ready).
    if (sched::Waiter* w = std::exchange(slot.reader, nullptr))
      w->fire(sched::WakeReason::notified);
    if (sched::Waiter* w = std::exchange(slot.writer, nullptr))
      w->fire(sched::WakeReason::notified);
  }
  open_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard guard(mutex_);
  slot.next_free = free_;
  free_ = &slot;
}

void IoRegistry::deliver(std::uint64_t key, std::uint8_t readiness) noexcept {
  IoSlot* slot = find(static_cast<std::uint32_t>(key >> 32));
  if (!slot) return;
  std::lock_guard guard(slot->lock);
  if (slot->closed || slot->generation != static_cast<std::uint32_t>(key)) return;
  slot->ready |= readiness;
  if (readiness & kHangup) slot->hung_up.store(true, std::memory_order_release);
  if (readiness & kReadable) {
    // The woken fiber retries its call, which consumes this readiness; a waiter that already
    // timed out or was cancelled leaves it for the next wait.
    sched::Waiter* w = std::exchange(slot->reader, nullptr);
    if (w && w->fire(sched::WakeReason::notified))
      slot->ready &= static_cast<std::uint8_t>(~kReadable);
  }
  if (readiness & kWritable) {
    // The woken fiber retries its call, which consumes this readiness; a waiter that already
    // timed out or was cancelled leaves it for the next wait.
    sched::Waiter* w = std::exchange(slot->writer, nullptr);
    if (w && w->fire(sched::WakeReason::notified))
      slot->ready &= static_cast<std::uint8_t>(~kWritable);
  }
}

int IoRegistry::fd_of(std::uint64_t key) noexcept {
  IoSlot* slot = find(static_cast<std::uint32_t>(key >> 32));
  if (!slot) return -1;
  std::lock_guard guard(slot->lock);
  return slot->closed || slot->generation != static_cast<std::uint32_t>(key) ? -1 : slot->fd;
}

}  // namespace weft::io

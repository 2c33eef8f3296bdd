#pragma once
// A runtime's table of watched fds (IoSlot). Slots live in chunks that are never freed while
// the runtime lives, so a reactor may look one up from a stale key at any time; the generation
// check under the slot's lock decides whether the event still means anything.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "io/io_slot.hpp"

namespace weft::io {

class IoRegistry {
 public:
  IoRegistry() = default;
  ~IoRegistry();
  IoRegistry(const IoRegistry&) = delete;
  IoRegistry& operator=(const IoRegistry&) = delete;

  // A slot for fd, open, with a fresh generation. Throws std::bad_alloc past the table's size.
  [[nodiscard]] IoSlot& acquire(int fd);
  // The fd is closed: later events for the old key are dropped, waiters are woken and see the
  // slot closed. Then the slot goes back to the free list.
  void close(IoSlot& slot) noexcept;
  // A backend's report: fires the waiters the readiness concerns, or remembers it for the next
  // wait. Stale keys are ignored.
  void deliver(std::uint64_t key, std::uint8_t readiness) noexcept;
  // The fd behind a key, or -1 if the key is stale.
  [[nodiscard]] int fd_of(std::uint64_t key) noexcept;
  [[nodiscard]] std::size_t open_slots() const noexcept {
    return open_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::uint32_t kChunkSize = 1024;
  static constexpr std::uint32_t kMaxChunks = 16384;  // 16 M slots

  [[nodiscard]] IoSlot* find(std::uint32_t index) const noexcept;

  std::array<std::atomic<IoSlot*>, kMaxChunks> chunks_{};
  std::mutex mutex_;  // guards free_ and next_index_
  IoSlot* free_ = nullptr;
  std::uint32_t next_index_ = 0;
  std::atomic<std::size_t> open_{0};
};

}  // namespace weft::io

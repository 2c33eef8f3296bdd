#pragma once
// One watched file descriptor: what its waiters need, behind a spin lock. Slots are reused, so
// each use of a slot has its own generation; a backend reports readiness by key (slot index
// and generation), and a key from an earlier use (the fd was closed, its number maybe reused)
// matches nothing (see IoRegistry::deliver).
#include <atomic>
#include <cstdint>

#include "sync/spin_lock.hpp"

namespace weft::sched {
class Waiter;
}

namespace weft::io {

enum Readiness : std::uint8_t {
  kReadable = 1,
  kWritable = 2,
  // The peer hung up or the socket has an error: sticky (no further edge will report it), so
  // a reader never waits for an edge after it.
  kHangup = 4,
};

struct IoSlot {
  sync::SpinLock lock;
  // Guarded by lock.
  std::uint32_t generation = 0;  // bumped when the fd is closed
  int fd = -1;
  std::uint8_t ready = 0;  // Readiness bits reported since a waiter last consumed them
  bool closed = true;
  std::atomic<bool> hung_up{false};  // set with kHangup, read without the lock
  sched::Waiter* reader = nullptr;
  sched::Waiter* writer = nullptr;
  // The worker whose reactor watches fd (-1: none yet). Set once per use, by compare-and-swap.
  std::atomic<int> reactor{-1};
  std::uint32_t index = 0;
  IoSlot* next_free = nullptr;
};

[[nodiscard]] constexpr std::uint64_t key_of(std::uint32_t index,
                                             std::uint32_t generation) noexcept {
  return (std::uint64_t{index} << 32) | generation;
}

}  // namespace weft::io

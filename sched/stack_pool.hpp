#pragma once
// Fiber stacks: mmap'ed, each with a guard page: a guard marker where the kernel has them (no
// memory map spent), else an mprotect'ed page while the process's memory-map budget allows and
// a canary (the lowest cache line, which must stay zero; checked at each switch) beyond it
// (DESIGN.md rule 6: each mprotect'ed guard costs two of vm.max_map_count's 65,530 maps).
//
// Stacks are carved from mappings of several at once and given back in batches: with another
// worker running, every mmap/munmap call pays a TLB shootdown (~12 µs on a 2-vCPU VM), so a
// burst of fibers that end together unmaps each run of neighbouring stacks in one call.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace weft::sched {

struct Stack {
  std::byte* base = nullptr;  // lowest mapped address (the guard page, if any)
  std::size_t size = 0;       // whole mapping
  bool guarded = false;
  // The guard is an mprotect'ed page, which splits the mapping: counted against the budget.
  // (A guard marker, MADV_GUARD_INSTALL, costs no map.)
  bool guard_splits_map = false;

  [[nodiscard]] std::byte* top() const noexcept { return base + size; }
  [[nodiscard]] std::byte* bottom() const noexcept;  // lowest usable byte
  // A guarded stack needs no canary: its guard page catches an overflow first.
  [[nodiscard]] bool canary_intact() const noexcept { return guarded || zero_canary_intact(); }
  [[nodiscard]] bool in_guard(const void* address) const noexcept;

 private:
  [[nodiscard]] bool zero_canary_intact() const noexcept;
};

// How a stack gets its guard page. Linux 6.13+ has guard markers (madvise MADV_GUARD_INSTALL):
// kept in the page tables, they split no mapping, so every stack gets one at no map cost and
// ~1 µs instead of mprotect's ~2-4. Elsewhere, an mprotect'ed page within the budget.
enum class GuardKind : std::uint8_t {
  automatic,  // a marker where the kernel has them, else mprotect within the budget
  protect,    // mprotect within the budget only
};

class StackPool {
 public:
  // stack_size: usable bytes, rounded up to pages. guarded_budget: how many stacks of the whole
  // process may carry an mprotect'ed guard page at once.
  StackPool(std::size_t stack_size, std::size_t guarded_budget,
            GuardKind guards = GuardKind::automatic);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Throws std::system_error naming mmap's failure (ENOMEM, map count exhausted). Thread-safe,
  // but each worker has a pool of its own, so that the stacks it hands out one after another
  // are neighbours, which a batch of them given back together needs.
  [[nodiscard]] Stack allocate();
  // Unmaps stacks from any pool, on any thread.
  static void release(Stack stack) noexcept;
  // Sorts `stacks` by address and unmaps each run of neighbours with one call.
  static void release(std::span<Stack> stacks) noexcept;
  [[nodiscard]] std::size_t stack_size() const noexcept { return usable_; }

  // Stacks with an mprotect'ed guard page in this process right now (all pools).
  static std::size_t guarded_in_process() noexcept;
  // Stacks handed out and not released yet in this process (all pools); those queued for
  // unmapping count until they are unmapped.
  static std::size_t stacks_in_process() noexcept;
  // Whether this kernel has guard markers (false once an install was refused).
  static bool guard_markers_available() noexcept;
  // Stacks carved from one mapping.
  static constexpr std::size_t kStacksPerMapping = 16;

 private:
  [[nodiscard]] Stack take_slot();
  void map_slots();

  std::size_t usable_;
  std::size_t slot_size_;  // usable_ plus the guard page, whether or not it is protected
  std::size_t guarded_budget_;
  GuardKind guards_;
  std::mutex mutex_;          // guards spare_
  std::vector<Stack> spare_;  // mapped, never handed out (untouched: no resident memory)
};

}  // namespace weft::sched

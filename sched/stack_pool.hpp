#pragma once
// Fiber stacks: mmap'ed, with a guard page while the process's memory-map budget allows and a
// canary (the lowest cache line, which must stay zero; checked at each switch) beyond it
// (DESIGN.md rule 6: each guarded stack costs two of vm.max_map_count's 65,530 maps).
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace weft::sched {

struct Stack {
  std::byte* base = nullptr;  // lowest mapped address (the guard page, if any)
  std::size_t size = 0;       // whole mapping
  bool guarded = false;

  [[nodiscard]] std::byte* top() const noexcept { return base + size; }
  [[nodiscard]] std::byte* bottom() const noexcept;  // lowest usable byte
  // A guarded stack needs no canary: its guard page catches an overflow first.
  [[nodiscard]] bool canary_intact() const noexcept { return guarded || zero_canary_intact(); }
  [[nodiscard]] bool in_guard(const void* address) const noexcept;

 private:
  [[nodiscard]] bool zero_canary_intact() const noexcept;
};

class StackPool {
 public:
  // stack_size: usable bytes, rounded up to pages. guarded_budget: how many stacks of the whole
  // process may carry a guard page at once.
  StackPool(std::size_t stack_size, std::size_t guarded_budget);

  // Throws std::system_error naming mmap's failure (ENOMEM, map count exhausted).
  [[nodiscard]] Stack allocate();
  void release(Stack stack) noexcept;
  [[nodiscard]] std::size_t stack_size() const noexcept { return usable_; }

  // Stacks with a guard page in this process right now (all pools).
  static std::size_t guarded_in_process() noexcept;

 private:
  std::size_t usable_;
  std::size_t guarded_budget_;
};

}  // namespace weft::sched

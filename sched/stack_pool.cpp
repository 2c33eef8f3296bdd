#include "sched/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "sched/switch_annotations.hpp"

namespace weft::sched {
namespace {

// The canary is the lowest cache line of an unguarded stack, which must stay all zero. It is
// never written: an untouched page reads as the kernel's shared zero page, so the canary costs
// no resident memory (a written magic word would cost a page per fiber, and rule 6 allows one).
constexpr std::size_t kCanaryWords = 8;

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// vm.max_map_count is a limit of the process, not of a runtime, so the guard budget is counted
// process-wide: two runtimes side by side share it.
std::atomic<std::size_t> guarded_stacks{0};

bool reserve_guard(std::size_t budget) noexcept {
  std::size_t now = guarded_stacks.load(std::memory_order_relaxed);
  while (now < budget) {
    if (guarded_stacks.compare_exchange_weak(now, now + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace

std::byte* Stack::bottom() const noexcept {
  return base + (guarded ? page_size() : 0);
}

bool Stack::zero_canary_intact() const noexcept {
  const auto* words = reinterpret_cast<const volatile std::uint64_t*>(bottom());
  std::uint64_t any = 0;
  for (std::size_t i = 0; i < kCanaryWords; ++i) any |= words[i];
  return any == 0;
}

bool Stack::in_guard(const void* address) const noexcept {
  auto* p = static_cast<const std::byte*>(address);
  return guarded && p >= base && p < base + page_size();
}

StackPool::StackPool(std::size_t stack_size, std::size_t guarded_budget)
    : usable_((stack_size + page_size() - 1) / page_size() * page_size()),
      guarded_budget_(guarded_budget) {}

Stack StackPool::allocate() {
  const bool guarded = reserve_guard(guarded_budget_);
  Stack stack;
  stack.size = usable_ + (guarded ? page_size() : 0);
  stack.guarded = guarded;
  // MAP_NORESERVE: only touched pages cost memory; a parked fiber typically touches one or two.
  void* memory = mmap(nullptr, stack.size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) {
    if (guarded) guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
    throw std::system_error(
        errno, std::generic_category(),
        "weft: cannot map a fiber stack of " + std::to_string(stack.size) + " bytes");
  }
  stack.base = static_cast<std::byte*>(memory);
  if (guarded && mprotect(stack.base, page_size(), PROT_NONE) != 0) {
    const int error = errno;
    munmap(memory, stack.size);
    guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
    throw std::system_error(error, std::generic_category(),
                            "weft: cannot protect a fiber stack's guard page (is "
                            "vm.max_map_count exhausted? lower Config::guarded_stacks)");
  }
  return stack;
}

void StackPool::release(Stack stack) noexcept {
  if (!stack.base) return;
  // ASan keeps shadow bytes across munmap: the redzones of the frames this stack held would
  // poison whatever is mapped here next (an io_uring ring, another library's buffer).
  asan_unpoison(stack.base, stack.size);
  munmap(stack.base, stack.size);
  if (stack.guarded) guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t StackPool::guarded_in_process() noexcept {
  return guarded_stacks.load(std::memory_order_relaxed);
}

}  // namespace weft::sched

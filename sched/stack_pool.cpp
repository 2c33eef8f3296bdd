#include "sched/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace weft::sched {
namespace {

constexpr std::uint64_t kCanary = 0x5745465453544b21ULL;  // "WEFTSTK!"

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

bool Stack::canary_intact() const noexcept {
  std::uint64_t word;
  std::memcpy(&word, bottom(), sizeof word);
  return word == kCanary;
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
  std::memcpy(stack.bottom(), &kCanary, sizeof kCanary);
  return stack;
}

void StackPool::release(Stack stack) noexcept {
  if (!stack.base) return;
  munmap(stack.base, stack.size);
  if (stack.guarded) guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t StackPool::guarded_in_process() noexcept {
  return guarded_stacks.load(std::memory_order_relaxed);
}

}  // namespace weft::sched

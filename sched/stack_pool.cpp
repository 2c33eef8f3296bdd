#include "sched/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
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

std::atomic<std::size_t> stacks_out{0};  // handed out, not released (stacks_in_process)

// MADV_GUARD_INSTALL, from Linux 6.13's uapi headers (Debian 12's are older).
constexpr int kMadvGuardInstall = 102;
// Cleared the first time the kernel refuses a marker (EINVAL: too old), for the process.
std::atomic<bool> markers_available{true};

bool install_guard_marker(std::byte* page) noexcept {
  if (!markers_available.load(std::memory_order_relaxed)) return false;
  if (madvise(page, page_size(), kMadvGuardInstall) == 0) return true;
  // EINVAL (a kernel before 6.13), EPERM or ENOSYS (a sandbox): none for this process. ENOMEM
  // or EAGAIN (no memory for page tables) may pass: an mprotect'ed page may still do now.
  if (errno != ENOMEM && errno != EAGAIN && errno != EINTR)
    markers_available.store(false, std::memory_order_relaxed);
  return false;
}

bool reserve_guard(std::size_t budget) noexcept {
  std::size_t now = guarded_stacks.load(std::memory_order_relaxed);
  while (now < budget) {
    if (guarded_stacks.compare_exchange_weak(now, now + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

struct Unmapped {
  std::size_t stacks = 0;
  std::size_t split_guards = 0;  // mprotect'ed guards among them
};

// Sorts `stacks` by address and unmaps each run of neighbours with one call.
Unmapped unmap_runs(std::span<Stack> stacks) noexcept {
  std::sort(stacks.begin(), stacks.end(),
            [](const Stack& a, const Stack& b) { return a.base < b.base; });
  Unmapped gone;
  std::size_t i = 0;
  while (i < stacks.size() && !stacks[i].base) ++i;  // empty Stacks (sorted first) hold nothing
  gone.stacks = stacks.size() - i;
  while (i < stacks.size()) {
    std::byte* const start = stacks[i].base;
    std::byte* end = start;
    for (; i < stacks.size() && stacks[i].base == end; ++i) {
      end = stacks[i].top();
      if (stacks[i].guard_splits_map) ++gone.split_guards;
    }
    const auto length = static_cast<std::size_t>(end - start);
    // ASan keeps shadow bytes across munmap: the redzones of the frames these stacks held
    // would poison whatever is mapped here next (an io_uring ring, another library's buffer).
    asan_unpoison(start, length);
    munmap(start, length);
  }
  return gone;
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

StackPool::StackPool(std::size_t stack_size, std::size_t guarded_budget, GuardKind guards)
    : usable_((stack_size + page_size() - 1) / page_size() * page_size()),
      slot_size_(usable_ + page_size()),
      guarded_budget_(guarded_budget),
      guards_(guards) {}

StackPool::~StackPool() {
  (void)unmap_runs(spare_);  // never handed out: nothing to count back
}

void StackPool::map_slots() {
  spare_.reserve(spare_.size() + kStacksPerMapping);  // nothing below may throw once mapped
  // MAP_NORESERVE: only touched pages cost memory; a parked fiber typically touches one or two.
  constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
  std::size_t count = kStacksPerMapping;
  void* memory = mmap(nullptr, count * slot_size_, PROT_READ | PROT_WRITE, kFlags, -1, 0);
  if (memory == MAP_FAILED) {  // short of address space or maps: one stack may still fit
    count = 1;
    memory = mmap(nullptr, slot_size_, PROT_READ | PROT_WRITE, kFlags, -1, 0);
  }
  if (memory == MAP_FAILED)
    throw std::system_error(
        errno, std::generic_category(),
        "weft: cannot map a fiber stack of " + std::to_string(slot_size_) + " bytes");
  // A mapping of several stacks may reach 2 MiB: a transparent huge page would make one
  // touched byte cost 2 MiB of memory.
  (void)madvise(memory, count * slot_size_, MADV_NOHUGEPAGE);
  auto* first = static_cast<std::byte*>(memory);
  // Handed out from the highest address down: the kernel places each new mapping just below
  // the last one, so stacks taken one after another stay neighbours across mappings too.
  for (std::size_t i = 0; i < count; ++i)
    spare_.push_back({.base = first + i * slot_size_, .size = slot_size_});
}

Stack StackPool::take_slot() {
  std::lock_guard guard(mutex_);
  if (spare_.empty()) map_slots();
  const Stack slot = spare_.back();
  spare_.pop_back();
  return slot;
}

Stack StackPool::allocate() {
  Stack stack = take_slot();
  stacks_out.fetch_add(1, std::memory_order_relaxed);
  if (guards_ == GuardKind::automatic && install_guard_marker(stack.base)) {
    stack.guarded = true;
    return stack;
  }
  stack.guarded = stack.guard_splits_map = reserve_guard(guarded_budget_);
  if (stack.guarded && mprotect(stack.base, page_size(), PROT_NONE) != 0) {
    // The kernel's map budget ran out before ours (ENOMEM): this stack goes without a guard
    // page, watched by the canary like those beyond the budget.
    guarded_stacks.fetch_sub(1, std::memory_order_relaxed);
    stack.guarded = stack.guard_splits_map = false;
  }
  return stack;
}

void StackPool::release(Stack stack) noexcept {
  release(std::span<Stack>(&stack, 1));
}

void StackPool::release(std::span<Stack> stacks) noexcept {
  const Unmapped gone = unmap_runs(stacks);
  if (gone.split_guards != 0)
    guarded_stacks.fetch_sub(gone.split_guards, std::memory_order_relaxed);
  if (gone.stacks != 0) stacks_out.fetch_sub(gone.stacks, std::memory_order_relaxed);
}

std::size_t StackPool::guarded_in_process() noexcept {
  return guarded_stacks.load(std::memory_order_relaxed);
}

std::size_t StackPool::stacks_in_process() noexcept {
  return stacks_out.load(std::memory_order_relaxed);
}

bool StackPool::guard_markers_available() noexcept {
  return markers_available.load(std::memory_order_relaxed);
}

}  // namespace weft::sched

#pragma once
// Memory for task blocks. Each thread keeps small free lists per size class, so spawning and
// finishing a task allocate nothing from the system in steady state (DESIGN.md rule 3). A block
// may be freed on another thread than the one that allocated it; it simply joins that thread's
// lists. Lists are capped; beyond the cap, and for odd sizes, memory goes back to operator
// delete. It is an allocator, not scheduler state: it serves every runtime in the process.
#include <cstddef>
#include <cstdint>

namespace weft::sched {

inline constexpr unsigned kUncached = ~0u;

// Returns at least `size` bytes and the class to free them with: up to 1 KiB (the cached
// classes) on a cache line, 64 bytes; beyond, aligned to `align` only.
[[nodiscard]] void* allocate_block_memory(std::size_t size, std::size_t align,
                                          unsigned& size_class);
void free_block_memory(void* memory, std::size_t align, unsigned size_class) noexcept;
// Blocks allocated and not yet freed, process-wide (for leak checks in tests).
[[nodiscard]] std::int64_t live_block_memory() noexcept;

}  // namespace weft::sched

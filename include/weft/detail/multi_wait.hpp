#pragma once
// The engine calls behind gather, wait and as_completed: waiting on many task blocks at once.
#include <cstddef>
#include <cstdint>

#include "weft/detail/task_block.hpp"
#include "weft/export.hpp"

namespace weft::detail {

enum class WaitUntil : unsigned char {
  all_done,
  first_done,
  first_error,    // a block failed with an exception that is not CancelledError
  first_failure,  // a block failed or was cancelled (gather without return_exceptions)
};
enum class OnCancel : bool { leave_running, cancel_all };

struct MultiWaitResult {
  bool met = false;                // false: the deadline passed first
  std::size_t trigger = SIZE_MAX;  // the block whose completion met a first_* condition
};

// Parks the calling fiber until `until` holds for blocks[0..count) or deadline_ns passes. If the
// fiber is cancelled meanwhile: with cancel_all, every unfinished block is cancelled and waited
// for; then CancelledError. Outside a fiber: std::logic_error.
WEFT_API MultiWaitResult wait_blocks(TaskBlock* const* blocks, std::size_t count, WaitUntil until,
                                     std::uint64_t deadline_ns, OnCancel on_cancel);

// as_completed: blocks in the order they finish.
class CompletionOrder;
[[nodiscard]] WEFT_API CompletionOrder* watch_completion(TaskBlock* const* blocks,
                                                         std::size_t count);
// The index of the next block to finish: parks until one does; TimeoutError once deadline_ns
// passes, CancelledError if the fiber is cancelled. Call at most `count` times.
[[nodiscard]] WEFT_API std::size_t next_completed(CompletionOrder* order,
                                                  std::uint64_t deadline_ns);
WEFT_API void unwatch_completion(CompletionOrder* order) noexcept;

}  // namespace weft::detail

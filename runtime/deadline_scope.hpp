#pragma once
// The engine side of Timeout scopes (weft/timeout.hpp): a task's open scopes form a list,
// innermost first, and TaskBlock::scope_deadline caches the earliest deadline among those not
// expired. Waits (io::park_until) and yield_now() look at that one number; when it has passed,
// the scope that owns it expires and cancels its task, as asyncio's timeout does.
#include <cstdint>

namespace weft::detail {

class TaskBlock;

// If the earliest open deadline is <= now_ns, expires that scope (the innermost of equal ones):
// records a cancel() request on the task and returns true. The caller delivers it.
bool expire_due_scope(TaskBlock* task, std::uint64_t now_ns);
// Recomputes TaskBlock::scope_deadline: only scopes opened at the task's current uncancellable
// depth count (a scope opened inside weft::uncancellable still expires; one outside waits).
void refresh_scope_deadline(TaskBlock* task) noexcept;

}  // namespace weft::detail

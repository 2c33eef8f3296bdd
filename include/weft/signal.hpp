#pragma once
// Unix signals handled by fibers: asyncio's loop.add_signal_handler / remove_signal_handler.
// See docs/signals.md.
#include <functional>

#include "weft/export.hpp"

namespace weft {

class Runtime;

// Each time `sig` arrives, runs fn as a new task (named "signal handler SIGUSR1") of the
// calling fiber's runtime; never in signal context, so fn may do anything a fiber does. Replaces
// the handler sig had (whichever runtime registered it). Deliveries of one signal that arrive
// before weft has picked up the previous one (to spawn its task) coalesce into one call, as the
// kernel's pending signals do: count events, not signals.
// Throws std::invalid_argument naming the signal for SIGKILL, SIGSTOP, the fault signals
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL), numbers the C library reserves, and non-signals; outside a
// fiber, std::logic_error (use the Runtime& overload); InvalidStateError once the runtime is
// shutting down. A runtime's handlers are removed when it shuts down: Runtime::shutdown cancels
// every task, the one waiting for signals too.
WEFT_API void add_signal_handler(int sig, std::function<void()> fn);
// The same for `runtime`, from any thread.
WEFT_API void add_signal_handler(Runtime& runtime, int sig, std::function<void()> fn);
// Removes weft's handler for sig and restores the disposition sig had before weft first handled
// it (SIG_DFL, SIG_IGN or the program's own sigaction). False if weft had no handler for sig.
// Any thread. Throws std::invalid_argument for a number that is not a signal.
WEFT_API bool remove_signal_handler(int sig);

}  // namespace weft

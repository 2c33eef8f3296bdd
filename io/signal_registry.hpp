#pragma once
// Which handler each signal has and which runtime runs it: the process-wide table behind
// weft::add_signal_handler. Each runtime with a handler gets a pipe and a reader task (a
// SignalHub) that turns the numbers written by io/signal_route.cpp into handler fibers.
#include <cstdint>
#include <functional>
#include <string>

namespace weft {
class Runtime;
}

namespace weft::io {

// "SIGINT", or "signal 40" where the C library has no name for it.
[[nodiscard]] std::string signal_name(int sig);

struct SignalHandlerOptions {
  // The kernel restores SIG_DFL as it delivers the signal (SA_RESETHAND): a second one acts at
  // once, even before the handler fiber has run.
  bool one_shot = false;
  // Registers nothing (and returns 0) unless the signal's disposition is SIG_DFL: weft::run
  // leaves a signal alone that the program (or its parent: `cmd &` ignores SIGINT) has set.
  bool only_if_default = false;
};

// Runs fn as a new task of `runtime` (nullptr: the calling fiber's runtime) each time sig
// arrives, replacing the handler sig had. Returns an id for remove_signal_handler_if. Throws
// std::invalid_argument for a signal that cannot be handled (message starts with `caller`),
// InvalidStateError if the runtime is shutting down.
[[nodiscard]] std::uint64_t add_signal_handler_to(Runtime* runtime, int sig,
                                                  std::function<void()> fn,
                                                  SignalHandlerOptions options, const char* caller);
// Removes sig's handler if it is the one registered as `id` (0: whichever it is), restoring the
// disposition sig had before weft first handled it. False if there was none (or another one).
bool remove_signal_handler_if(int sig, std::uint64_t id);

}  // namespace weft::io

#pragma once
// What every stack switch must carry besides registers: the C++ runtime's per-thread exception
// state, and, in sanitizer builds, what AddressSanitizer and ThreadSanitizer need to know (so
// they run clean without a sanitizer-aware Boost).
#include <cxxabi.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace weft::sched {

// The C++ runtime keeps the exceptions being handled (what `throw;` rethrows) and the count
// std::uncaught_exceptions() reports per thread (libstdc++'s __cxa_eh_globals). A fiber that
// parks inside a catch block or in a destructor during unwinding owns part of that state, and
// may resume on another thread: so each side keeps its own copy, swapped at every switch.
struct ExceptionState {
  void* caught = nullptr;  // __cxa_eh_globals::caughtExceptions
  unsigned int uncaught = 0;
};
static_assert(sizeof(ExceptionState) == 2 * sizeof(void*), "libstdc++'s __cxa_eh_globals layout");

inline ExceptionState& thread_exception_state() noexcept {
  return *reinterpret_cast<ExceptionState*>(abi::__cxa_get_globals());
}

// One side of a switch: a fiber's stack or a worker thread's own stack.
struct SwitchSide {
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
  void* asan_fake_stack = nullptr;  // ASan's saved fake stack while this side is switched out
  ExceptionState exceptions;        // this side's exception state while it is switched out
};

// Called on `from` right before it jumps to `to`. A side whose stack is about to be released
// passes dying = true so ASan forgets its fake stack.
// `live` is this thread's exception state (thread_exception_state()); a worker looks it up
// once and passes it on every switch, which saves a call into libstdc++ and a TLS lookup.
inline void before_switch(SwitchSide& from, const SwitchSide& to, ExceptionState& live,
                          [[maybe_unused]] bool dying = false) noexcept {
  from.exceptions = live;
  live = to.exceptions;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(dying ? nullptr : &from.asan_fake_stack, to.stack_bottom,
                                 to.stack_size);
#endif
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}

inline void before_switch(SwitchSide& from, const SwitchSide& to, bool dying = false) noexcept {
  before_switch(from, to, thread_exception_state(), dying);
}

// Called on a side right after control came back to it.
inline void after_switch([[maybe_unused]] SwitchSide& self) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, nullptr, nullptr);
#endif
}

// A fiber whose stack is about to be released leaves for `to`: ASan forgets its fake stack.
// TSan is not switched here: main() and Boost's frames still return on this fiber, and must be
// accounted to it; the destroyer switches TSan back once control is on its side (otherwise the
// destroyer's recorded call stack drifts and TSan's per-thread state breaks).
inline void before_exit_switch(const SwitchSide& to) noexcept {
  thread_exception_state() = to.exceptions;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(nullptr, to.stack_bottom, to.stack_size);
#endif
}

// Switches TSan's notion of the running fiber around code that Boost runs on another stack on
// our behalf (a constructor's jump, a dying fiber's last frames). With synchronisation: what one
// side wrote (say, the exit continuation) happens before what the other side reads.
inline void tsan_enter([[maybe_unused]] void* fiber) noexcept {
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(fiber, 0);
#endif
}

// A freshly mapped stack may carry shadow bytes ASan kept from an earlier mapping at the same
// address (it keeps them across munmap); a new fiber must start with clean shadow.
inline void asan_unpoison([[maybe_unused]] const void* bottom,
                          [[maybe_unused]] std::size_t size) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  __asan_unpoison_memory_region(bottom, size);
#endif
}

inline void* tsan_create_fiber() noexcept {
#if defined(__SANITIZE_THREAD__)
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void tsan_destroy_fiber([[maybe_unused]] void* fiber) noexcept {
#if defined(__SANITIZE_THREAD__)
  if (fiber) __tsan_destroy_fiber(fiber);
#endif
}
inline void* tsan_current_fiber() noexcept {
#if defined(__SANITIZE_THREAD__)
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

}  // namespace weft::sched

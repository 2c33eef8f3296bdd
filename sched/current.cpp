#include "sched/current.hpp"

#include <stdexcept>
#include <string>

namespace weft::sched {

#if defined(__x86_64__) && defined(__LP64__) && defined(__ELF__)
// used: the only reads are inside current_worker()'s asm, which the compiler cannot see, so
// link-time optimisation must not localise or drop the definition.
[[gnu::used]] thread_local Worker* current_worker_slot = nullptr;
#else
namespace {
thread_local Worker* current_worker_slot = nullptr;
}

__attribute__((noinline)) Worker* current_worker() noexcept {
  // The empty asm with a memory clobber stops the compiler from treating two calls as one
  // across a context switch (the thread_local's address is per thread).
  asm volatile("" ::: "memory");
  return current_worker_slot;
}
#endif

__attribute__((noinline)) void set_current_worker(Worker* worker) noexcept {
  current_worker_slot = worker;
}

void throw_not_in_fiber(const char* what) {
  throw std::logic_error(std::string("weft: ") + what +
                         " needs a weft fiber (inside weft::run, a task, or Runtime::submit)");
}

}  // namespace weft::sched

#include "sched/current.hpp"

#include <string>

namespace weft::sched {

#if defined(__x86_64__)
thread_local Worker* current_worker_slot = nullptr;
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

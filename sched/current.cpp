#include "sched/current.hpp"

#include <stdexcept>
#include <string>

#include "sched/worker.hpp"

namespace weft::sched {
namespace {
thread_local Worker* this_thread_worker = nullptr;
}

__attribute__((noinline)) Worker* current_worker() noexcept {
  // The empty asm with a memory clobber stops the compiler from treating two calls as one
  // across a context switch (the thread_local's address is per thread).
  asm volatile("" ::: "memory");
  return this_thread_worker;
}

__attribute__((noinline)) void set_current_worker(Worker* worker) noexcept {
  this_thread_worker = worker;
}

Worker& fiber_worker(const char* what) {
  Worker* worker = current_worker();
  if (!worker || !worker->current_task())
    throw std::logic_error(std::string("weft: ") + what +
                           " needs a weft fiber (inside weft::run, a task, or Runtime::submit)");
  return *worker;
}

}  // namespace weft::sched

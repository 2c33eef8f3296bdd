#include "sched/helper_thread.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace weft::sched {

bool process_cpus(cpu_set_t& cpus) noexcept {
  CPU_ZERO(&cpus);
  // sched_getaffinity of the process id reads its main thread's mask.
  return sched_getaffinity(getpid(), sizeof cpus, &cpus) == 0;
}

void run_as_helper_thread() noexcept {
  cpu_set_t cpus;
  if (process_cpus(cpus)) (void)pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
  sigset_t all;
  sigfillset(&all);
  (void)pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace weft::sched

#include "sched/overflow_report.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "sched/current.hpp"
#include "sched/fiber.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::sched {
namespace {

constexpr std::size_t kAltStackSize = std::size_t{64} * 1024;
struct sigaction previous_action;

void write_text(const char* text) noexcept {
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_segv(int signal, siginfo_t* info, void* context) {
  Worker* worker = current_worker();
  detail::TaskBlock* task = worker ? worker->current_task() : nullptr;
  if (task && task->fiber && task->fiber->stack().in_guard(info->si_addr)) {
    // Best effort while crashing: read the name without the block's lock, write(2) only.
    write_text("weft: fatal: stack overflow in task '");
    if (task->extras && !task->extras->name.empty()) {
      write_text(task->extras->name.c_str());
    } else {
      char digits[24];
      int n = 0;
      for (std::uint64_t id = task->id; n == 0 || id != 0; id /= 10)
        digits[n++] = static_cast<char>('0' + static_cast<int>(id % 10));
      write_text("Task-");
      char reversed[24];
      for (int i = 0; i < n; ++i) reversed[i] = digits[n - 1 - i];
      reversed[n] = '\0';
      write_text(reversed);
    }
    write_text("' (raise Config::stack_size)\n");
    ::signal(SIGABRT, SIG_DFL);
    ::abort();
  }
  // Not ours: behave as if we were never installed.
  if (previous_action.sa_flags & SA_SIGINFO) {
    previous_action.sa_sigaction(signal, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(signal);
  } else {
    ::signal(SIGSEGV, SIG_DFL);  // returning re-executes the fault with the default action
  }
}

}  // namespace

void install_overflow_handler() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous_action);
  });
}

AlternateSignalStack::AlternateSignalStack() : memory_(std::make_unique<char[]>(kAltStackSize)) {
  stack_t stack{};
  stack.ss_sp = memory_.get();
  stack.ss_size = kAltStackSize;
  sigaltstack(&stack, nullptr);
}

AlternateSignalStack::~AlternateSignalStack() {
  stack_t disable{};
  disable.ss_flags = SS_DISABLE;
  sigaltstack(&disable, nullptr);
}

}  // namespace weft::sched

#pragma once
// Runs a piece of a test in a forked child: for behaviour that ends the process (a stack
// overflow report) or changes it for good (seccomp filters, address-space limits).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <type_traits>
#include <utility>

namespace weft_test {

// Runs fn in a forked child with stderr captured; returns {wait status, stderr text}. The child
// exits with fn's result if it returns an int, else with 0.
template <class Fn>
std::pair<int, std::string> run_in_child(Fn&& fn) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      _exit(0);
    } else {
      _exit(fn());
    }
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, text};
}

}  // namespace weft_test

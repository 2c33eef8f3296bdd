#pragma once
// Starts a child process with posix_spawnp (never fork: it is the one safe way to start a
// program from a multi-threaded process) and gives it the stdio that ProcessOptions asks for.
#include <sys/types.h>

#include <string>
#include <vector>

#include <weft/process.hpp>

#include "io/owned_fd.hpp"

namespace weft::io {

struct SpawnedChild {
  pid_t pid = -1;
  // This process's ends of the stdin, stdout and stderr pipes (empty where no Pipe was asked
  // for): close-on-exec Unix stream sockets, made non-blocking when a Socket takes them over.
  OwnedFd stdio[3];
};

// Throws std::invalid_argument for bad options (empty argv, Stdout for stdin or stdout),
// FileNotFoundError / PermissionError / OSError naming argv[0] if the program cannot be run.
[[nodiscard]] SpawnedChild spawn_child(const std::vector<std::string>& argv,
                                       const ProcessOptions& options);

}  // namespace weft::io

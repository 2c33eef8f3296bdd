#include "io/process_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include <weft/errors.hpp>

extern char** environ;

namespace weft::io {
namespace {

// posix_spawn's two argument objects, destroyed on every way out.
class FileActions {
 public:
  FileActions() {
    if (const int error = posix_spawn_file_actions_init(&actions_))
      throw_os_error(error, "weft: posix_spawn_file_actions_init");
  }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

class SpawnAttributes {
 public:
  SpawnAttributes() {
    if (const int error = posix_spawnattr_init(&attributes_))
      throw_os_error(error, "weft: posix_spawnattr_init");
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() noexcept { return &attributes_; }

 private:
  posix_spawnattr_t attributes_;
};

void check(int error, const char* what) {
  if (error != 0) throw_os_error(error, std::string("weft: ") + what);
}

const char* stream_name(int target) {
  static constexpr const char* kNames[] = {"stdin_", "stdout_", "stderr_"};
  return kNames[target];
}

// A close-on-exec copy of `fd` numbered 3 or more. The child's stdio is set up by dup2s in
// order 0, 1, 2; a source numbered below 3 could be overwritten by an earlier dup2 before its
// own turn (say, a socket that got number 0 because this process closed its stdin).
OwnedFd above_stdio(int fd, const char* what) {
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw_os_error(errno, std::string("weft: duplicating the fd for ") + what);
  return OwnedFd(copy);
}

// This process's end and the child's end of a Unix stream socket pair; see weft/process.hpp for
// why not pipe(2). Both ends are blocking here (the child does not expect O_NONBLOCK); the
// direction this process does not use is shut down, so a child that reads its stdout sees EOF
// and a child that writes its stdin gets EPIPE, as with a pipe.
void make_pipe(int target, OwnedFd& parent, OwnedFd& child) {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    throw_os_error(errno, std::string("weft: socketpair for ") + stream_name(target));
  parent = OwnedFd(ends[0]);
  child = OwnedFd(ends[1]);
  if (child.get() < 3) child = above_stdio(child.get(), stream_name(target));
  // This process's end turns non-blocking when a Socket takes it over (io/process.cpp).
  ::shutdown(parent.get(), target == STDIN_FILENO ? SHUT_RD : SHUT_WR);
}

// Adds the file actions that give the child's fd `target` what `stdio` asks for. Fds this
// process must keep open until the spawn are moved into `keep`.
void plan_stream(int target, Stdio stdio, FileActions& actions, OwnedFd& parent_end,
                 std::vector<OwnedFd>& keep) {
  switch (stdio.kind()) {
    case Stdio::Kind::inherit:
      return;
    case Stdio::Kind::devnull:
      check(posix_spawn_file_actions_addopen(actions.get(), target, "/dev/null",
                                             target == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0),
            "posix_spawn_file_actions_addopen(/dev/null)");
      return;
    case Stdio::Kind::to_stdout:
      if (target != STDERR_FILENO)
        throw std::invalid_argument(std::string("weft: ") + stream_name(target) +
                                    " = weft::Stdout; only stderr_ can go to stdout");
      // Runs after stdout's own action, so it copies the child's new stdout.
      check(posix_spawn_file_actions_adddup2(actions.get(), STDOUT_FILENO, STDERR_FILENO),
            "posix_spawn_file_actions_adddup2");
      return;
    case Stdio::Kind::fd: {
      int source = stdio.fd();
      if (source == target) return;  // the child inherits it as it is
      if (source < 0 || fcntl(source, F_GETFD) < 0)
        throw OSError(EBADF, std::string("weft: ") + stream_name(target) + " = Stdio::from_fd(" +
                                 std::to_string(source) + ")");
      if (source < 3) {
        keep.push_back(above_stdio(source, stream_name(target)));
        source = keep.back().get();
      }
      check(posix_spawn_file_actions_adddup2(actions.get(), source, target),
            "posix_spawn_file_actions_adddup2");
      return;
    }
    case Stdio::Kind::pipe: {
      OwnedFd child_end;
      make_pipe(target, parent_end, child_end);
      // dup2 clears close-on-exec on the child's copy; the original closes at exec.
      check(posix_spawn_file_actions_adddup2(actions.get(), child_end.get(), target),
            "posix_spawn_file_actions_adddup2");
      keep.push_back(std::move(child_end));
      return;
    }
  }
}

void restore_signals(SpawnAttributes& attributes) {
  // The child starts with no signal blocked (workers may block some for the runtime's own
  // signal handling) and with SIGPIPE and SIGXFSZ at their defaults even if this process
  // ignores them, as Python's restore_signals does: a shell pipeline in the child must die of
  // SIGPIPE, not see EPIPE everywhere.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  check(posix_spawnattr_setsigmask(attributes.get(), &none), "posix_spawnattr_setsigmask");
  check(posix_spawnattr_setsigdefault(attributes.get(), &defaults),
        "posix_spawnattr_setsigdefault");
  check(posix_spawnattr_setflags(attributes.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
        "posix_spawnattr_setflags");
}

}  // namespace

SpawnedChild spawn_child(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) throw std::invalid_argument("weft: create_subprocess_exec with an empty argv");
  FileActions actions;
  SpawnAttributes attributes;
  restore_signals(attributes);
  if (!options.cwd.empty())
    check(posix_spawn_file_actions_addchdir_np(actions.get(), options.cwd.c_str()),
          "posix_spawn_file_actions_addchdir_np");

  SpawnedChild child;
  std::vector<OwnedFd> keep;  // the child's ends: open until the spawn, closed after it
  const Stdio streams[3] = {options.stdin_, options.stdout_, options.stderr_};
  for (int target = 0; target < 3; ++target)
    plan_stream(target, streams[target], actions, child.stdio[target], keep);
  // Every fd weft opens is close-on-exec, but a user's fd may not be: close everything but the
  // child's stdio so that nothing else leaks into it (glibc 2.34+).
  check(posix_spawn_file_actions_addclosefrom_np(actions.get(), 3),
        "posix_spawn_file_actions_addclosefrom_np");

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  std::vector<std::string> env_entries;
  std::vector<char*> env;
  if (options.env) {
    env_entries.reserve(options.env->size());
    for (const auto& [name, value] : *options.env) {
      std::string& entry = env_entries.emplace_back();
      entry.reserve(name.size() + 1 + value.size());
      entry.append(name).append(1, '=').append(value);
    }
    env.reserve(env_entries.size() + 1);
    for (std::string& entry : env_entries) env.push_back(entry.data());
    env.push_back(nullptr);
  }

  // glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK) and reports a failed exec (or a
  // failed file action, such as a missing cwd) as its return value.
  const int error = posix_spawnp(&child.pid, args[0], actions.get(), attributes.get(), args.data(),
                                 options.env ? env.data() : environ);
  if (error != 0) {
    std::string what = "weft: cannot run '" + argv[0] + "'";
    if (!options.cwd.empty()) what += " in '" + options.cwd + "'";
    throw_os_error(error, what);
  }
  return child;
}

}  // namespace weft::io

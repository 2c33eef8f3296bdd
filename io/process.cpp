// create_subprocess_exec / create_subprocess_shell and the Process calls.
#include <weft/process.hpp>

#include <signal.h>

#include <optional>

#include <weft/task.hpp>
#include <weft/task_group.hpp>

#include "io/process_spawn.hpp"
#include "io/process_state.hpp"
#include "io/stream_state.hpp"
#include "sched/current.hpp"
#include "sched/worker.hpp"

namespace weft {
namespace {

// Only this process's end is wrapped: a Socket made before anything else can fail, so the fd is
// owned at every step.
std::shared_ptr<detail::StreamState> wrap(io::OwnedFd& end, std::size_t limit) {
  return std::make_shared<detail::StreamState>(io::Socket(end.release()), limit);
}

}  // namespace

Process::~Process() = default;

detail::ProcessState& Process::state() const {
  if (!state_) throw InvalidStateError("weft: the Process is empty (moved from or default)");
  return *state_;
}

int Process::pid() const {
  return static_cast<int>(state().child->pid());
}

std::optional<int> Process::returncode() const {
  return state().child->returncode();
}

int Process::wait() {
  // A copy: the watch outlives this Process if another fiber moves or drops it meanwhile.
  const std::shared_ptr<io::ChildWatch> child = state().child;
  return child->wait();
}

void Process::send_signal(int signal) {
  state().child->send_signal(signal);
}

void Process::terminate() {
  send_signal(SIGTERM);
}

void Process::kill() {
  send_signal(SIGKILL);
}

StreamWriter& Process::stdin_pipe() {
  detail::ProcessState& s = state();
  if (!s.stdin_pipe) throw InvalidStateError("weft: the process's stdin is not a weft::Pipe");
  return *s.stdin_pipe;
}

StreamReader& Process::stdout_pipe() {
  detail::ProcessState& s = state();
  if (!s.stdout_pipe) throw InvalidStateError("weft: the process's stdout is not a weft::Pipe");
  return *s.stdout_pipe;
}

StreamReader& Process::stderr_pipe() {
  detail::ProcessState& s = state();
  if (!s.stderr_pipe) throw InvalidStateError("weft: the process's stderr is not a weft::Pipe");
  return *s.stderr_pipe;
}

ProcessOutput Process::communicate(std::string_view input) {
  detail::ProcessState& s = state();
  if (!input.empty() && !s.stdin_pipe)
    throw InvalidStateError("weft: communicate(input) needs stdin_ = weft::Pipe");
  ProcessOutput output;
  {
    // The readers run while this fiber writes: a child that fills its stdout before it reads
    // all of its stdin would otherwise block it and us. Leaving early (an error, a
    // cancellation) cancels and joins them.
    TaskGroup readers;
    std::optional<Task<std::string>> out;
    std::optional<Task<std::string>> err;
    if (s.stdout_pipe)
      out = readers.spawn([reader = *s.stdout_pipe]() mutable { return reader.read(); });
    if (s.stderr_pipe)
      err = readers.spawn([reader = *s.stderr_pipe]() mutable { return reader.read(); });
    if (s.stdin_pipe) {
      StreamWriter& writer = *s.stdin_pipe;
      try {
        if (!input.empty()) {
          writer.write(input);
          writer.drain();
        }
      } catch (const BrokenPipeError&) {
        // The child exited (or closed its stdin) without reading everything: not an error.
      } catch (const ConnectionResetError&) {
      }
      writer.close();
    }
    if (out) output.out = out->get();
    if (err) output.err = err->get();
    readers.join();
  }
  (void)wait();
  return output;
}

Process create_subprocess_exec(const std::vector<std::string>& argv,
                               const ProcessOptions& options) {
  (void)sched::fiber_worker("create_subprocess_exec()");
  // On the worker, as asyncio does on its loop: posix_spawn holds the thread until the child
  // has exec'd (about 0.12 ms here). On the blocking pool it would have to be waited for
  // uncancellably (a child that exists must reach the watch below, and a job cancelled while
  // it runs discards its result), behind whatever jobs fill the pool.
  io::SpawnedChild spawned = io::spawn_child(argv, options);
  auto state = std::make_shared<detail::ProcessState>();
  // Watched first: whatever fails below, the child is reaped.
  state->child = io::ChildWatch::start(spawned.pid);
  if (spawned.stdio[0]) state->stdin_pipe.emplace(wrap(spawned.stdio[0], options.limit));
  if (spawned.stdio[1]) state->stdout_pipe.emplace(wrap(spawned.stdio[1], options.limit));
  if (spawned.stdio[2]) state->stderr_pipe.emplace(wrap(spawned.stdio[2], options.limit));
  return Process(std::move(state));
}

Process create_subprocess_shell(std::string_view command, const ProcessOptions& options) {
  (void)sched::fiber_worker("create_subprocess_shell()");
  return create_subprocess_exec({"/bin/sh", "-c", std::string(command)}, options);
}

}  // namespace weft

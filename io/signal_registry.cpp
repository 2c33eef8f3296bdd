// The signal table, the per-runtime hubs and their reader tasks, and weft/signal.hpp's calls.
#include "io/signal_registry.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <weft/errors.hpp>
#include <weft/runtime.hpp>
#include <weft/signal.hpp>
#include <weft/task.hpp>

#include "io/owned_fd.hpp"
#include "io/signal_route.hpp"
#include "io/socket.hpp"
#include "runtime/runtime_core.hpp"
#include "sched/current.hpp"
#include "sched/worker.hpp"

namespace weft::io {
namespace {

// One runtime's end of signal delivery: a pipe that weft's handler writes signal numbers to,
// and whose read end the runtime's reader task waits on.
struct SignalHub {
  detail::RuntimeCore* runtime = nullptr;
  OwnedFd read_end;      // the reader task's once it runs
  OwnedFd write_end;     // guarded by the table mutex; closed once the hub retires
  unsigned handled = 0;  // signals routed here; guarded by the table mutex
  bool retired = false;  // guarded by the table mutex
};

// Shared, so that a dispatch takes a reference under the lock instead of copying the user's
// callable there (whose copy constructor could be anything).
using Handler = std::shared_ptr<const std::function<void()>>;

struct Registration {
  std::shared_ptr<SignalHub> hub;  // null: weft does not handle the signal
  Handler fn;
  struct sigaction previous {};  // the disposition before weft first handled the signal
  std::uint64_t id = 0;
};

// Process-wide, as dispositions are. Nothing here is touched in signal context.
struct SignalTable {
  std::mutex mutex;
  std::array<Registration, NSIG> entries;        // guarded by mutex
  std::vector<std::shared_ptr<SignalHub>> hubs;  // at most one live hub per runtime; ditto
  std::uint64_t last_id = 0;                     // ditto
};

SignalTable& table() {
  static SignalTable instance;
  return instance;
}

// What a change leaves to do once the table is unlocked: user functions are destroyed there
// (their destructors may call back in), and a retired pipe is closed only once no handler can
// still be writing to it. Declare it before the lock, so that it runs after the unlock.
struct Leftovers {
  std::vector<Handler> fns;
  Handler replaced;  // the one a registration replaced (kept apart: storing it cannot throw)
  std::vector<OwnedFd> fds;
  Leftovers() = default;
  Leftovers(const Leftovers&) = delete;
  Leftovers& operator=(const Leftovers&) = delete;
  ~Leftovers() {
    if (!fds.empty()) quiesce_signal_handlers();  // then the members close the fds
  }
};

void retire_locked(SignalTable& table, SignalHub& hub, Leftovers& later);

// Gives sig back the disposition it had before weft, and forgets its handler.
void restore_locked(SignalTable& table, int sig, Leftovers& later) {
  Registration& entry = table.entries[sig];
  // In this order no delivery is lost: until the first call takes effect, the route is there.
  sigaction(sig, &entry.previous, nullptr);
  unroute_signal(sig);
  const std::shared_ptr<SignalHub> hub = std::move(entry.hub);
  later.fns.push_back(std::move(entry.fn));
  entry = Registration{};
  if (--hub->handled == 0) retire_locked(table, *hub, later);
}

// The hub's runtime has no handler left, or is shutting down: its reader ends (it reads end of
// file once the write end is closed) and a later handler for that runtime gets a new hub.
void retire_locked(SignalTable& table, SignalHub& hub, Leftovers& later) {
  if (hub.retired) return;
  hub.retired = true;
  for (int sig = 1; sig < NSIG; ++sig)
    if (table.entries[sig].hub.get() == &hub) restore_locked(table, sig, later);
  std::erase_if(table.hubs, [&](const auto& live) { return live.get() == &hub; });
  later.fds.push_back(std::move(hub.write_end));
}

void retire(SignalHub& hub) noexcept {
  SignalTable& signals = table();
  Leftovers later;
  std::lock_guard guard(signals.mutex);
  retire_locked(signals, hub, later);
}

void dispatch(const SignalHub& hub, int sig) {
  if (sig <= 0 || sig >= NSIG) return;
  // Before reading the handler: a signal from now on writes again and is not lost; one that
  // came since the byte was written coalesces with it (this dispatch is after it).
  clear_pending_signal(sig);
  Handler fn;
  {
    SignalTable& signals = table();
    std::lock_guard guard(signals.mutex);
    // A byte written for a handler since removed or moved to another runtime runs nothing.
    if (signals.entries[sig].hub.get() == &hub) fn = signals.entries[sig].fn;
  }
  if (!fn) return;
  const std::string name = "signal handler " + signal_name(sig);
  try {
    (void)detail::spawn_on(nullptr, [fn = std::move(fn)] { (*fn)(); }, {.name = name});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "weft: could not start the %s: %s\n", name.c_str(), error.what());
  }
}

// The reader task's callable. However the task ends (its hub retired, or cancelled by
// shutdown, maybe before it ever ran), dropping the callable retires the hub while the
// runtime is still alive: dispositions restored, pipe closed.
class SignalReader {
 public:
  explicit SignalReader(std::shared_ptr<SignalHub> hub) noexcept : hub_(std::move(hub)) {}
  SignalReader(SignalReader&&) noexcept = default;
  SignalReader(const SignalReader&) = delete;
  SignalReader& operator=(const SignalReader&) = delete;
  SignalReader& operator=(SignalReader&&) = delete;
  ~SignalReader() {
    if (hub_) retire(*hub_);
  }

  void operator()() {
    // Only this task touches read_end (the hub's creator filled it before spawning us).
    Socket& pipe = pipe_.emplace(hub_->read_end.release());
    unsigned char numbers[64];
    for (;;) {
      const ssize_t n = ::read(pipe.fd(), numbers, sizeof numbers);
      const int error = errno;
      if (n > 0) {
        for (ssize_t i = 0; i < n; ++i) dispatch(*hub_, numbers[i]);
      } else if (n == 0) {
        return;  // the hub retired
      } else if (error == EAGAIN) {
        pipe.wait(kReadable, kNoDeadline, "waiting for a signal");
      } else if (error != EINTR) {
        throw_os_error(error, "weft: reading the signal pipe");
      }
    }
  }

 private:
  std::shared_ptr<SignalHub> hub_;
  // A member, not a local of operator(): it closes after ~SignalReader has retired the hub.
  // Were the read end closed first (the task cancelled or failed), a signal arriving before
  // the retire would be written to a pipe with no reader, and SIGPIPE would end the process.
  std::optional<Socket> pipe_;
};

// A hub for `core` with its reader task spawned. Made without the table lock: should the
// runtime be closing (or stopped, and spawn throws), the reader's callable retires the hub as
// it is dropped, which takes the lock.
std::shared_ptr<SignalHub> make_hub(detail::RuntimeCore& core, Runtime* runtime) {
  auto hub = std::make_shared<SignalHub>();
  hub->runtime = &core;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    throw_os_error(errno, "weft: creating the signal pipe");
  hub->read_end = OwnedFd(fds[0]);
  hub->write_end = OwnedFd(fds[1]);
  // A fresh context: the handlers it spawns must not see (or keep alive) the values of
  // whichever fiber registered the first handler.
  (void)detail::spawn_on(runtime, SignalReader(hub),
                         {.name = "weft signal reader", .fresh_context = true});
  return hub;
}

void check_range(int sig, const char* caller) {
  if (sig <= 0 || sig >= NSIG)
    throw std::invalid_argument(std::string(caller) + ": " + std::to_string(sig) +
                                " is not a signal number (1 to " + std::to_string(NSIG - 1) + ")");
}

void check_catchable(int sig, const char* caller) {
  check_range(sig, caller);
  const std::string prefix = std::string(caller) + ": " + signal_name(sig);
  if (sig == SIGKILL || sig == SIGSTOP)
    throw std::invalid_argument(prefix + " cannot be caught or ignored");
  // The kernel re-runs the faulting instruction when a handler returns: a fault cannot wait for
  // a fiber to run.
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)
    throw std::invalid_argument(prefix + " reports a fault of the thread that raised it; it " +
                                "cannot be handled by a fiber");
  if (sig < SIGRTMIN && sig > SIGSYS)
    throw std::invalid_argument(prefix + " is reserved by the C library");
}

}  // namespace

std::string signal_name(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX)
    return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  if (sig > 0 && sig < NSIG)
    if (const char* abbreviation = sigabbrev_np(sig)) return std::string("SIG") + abbreviation;
  return "signal " + std::to_string(sig);
}

namespace {

// Registers handler with core's live hub, or with `fresh` if core has none (nullopt if neither).
std::optional<std::uint64_t> try_add(detail::RuntimeCore& core, int sig, const Handler& handler,
                                     SignalHandlerOptions options, const char* caller,
                                     const std::shared_ptr<SignalHub>& fresh) {
  SignalTable& signals = table();
  Leftovers later;
  std::lock_guard guard(signals.mutex);
  std::shared_ptr<SignalHub> hub;
  for (const auto& live : signals.hubs)
    if (live->runtime == &core) hub = live;
  // A fresh hub nobody uses (another caller made one first, or nothing gets registered) ends.
  const auto drop_fresh = [&] {
    if (fresh && fresh != hub) retire_locked(signals, *fresh, later);
  };
  if (!hub && fresh) {
    // Its reader was dropped already: cancelled by a shutdown.
    if (fresh->retired)
      throw InvalidStateError(std::string(caller) + ": the runtime is shutting down");
    signals.hubs.push_back(fresh);
    hub = fresh;
  }
  if (!hub) return std::nullopt;
  Registration& entry = signals.entries[sig];
  if (options.only_if_default) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    if (entry.hub || (current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) {
      drop_fresh();
      if (hub->handled == 0) retire_locked(signals, *hub, later);
      return 0;
    }
  }
  drop_fresh();
  route_signal(sig, hub->write_end.get());
  // Installed again when replacing too: a one-shot handler may have been reset by the kernel.
  const struct sigaction action = signal_action(options.one_shot);
  struct sigaction previous {};
  if (sigaction(sig, &action, &previous) != 0) {
    const int error = errno;
    if (entry.hub)
      route_signal(sig, entry.hub->write_end.get());
    else
      unroute_signal(sig);
    if (hub->handled == 0) retire_locked(signals, *hub, later);
    throw std::invalid_argument(std::string(caller) + ": cannot handle " + signal_name(sig) + ": " +
                                strerror(error));
  }
  const std::shared_ptr<SignalHub> replaced = std::exchange(entry.hub, hub);
  if (!replaced) entry.previous = previous;
  ++hub->handled;
  later.replaced = std::exchange(entry.fn, handler);
  entry.id = ++signals.last_id;
  // Moved to another runtime: that one's hub may have nothing left to handle.
  if (replaced && replaced != hub && --replaced->handled == 0)
    retire_locked(signals, *replaced, later);
  return entry.id;
}

}  // namespace

std::uint64_t add_signal_handler_to(Runtime* runtime, int sig, std::function<void()> fn,
                                    SignalHandlerOptions options, const char* caller) {
  check_catchable(sig, caller);
  if (!fn) throw std::invalid_argument(std::string(caller) + ": the handler is empty");
  detail::RuntimeCore& core =
      runtime ? runtime->core() : sched::fiber_worker(caller).scheduler().owner;
  if (core.stopped() || core.closing())
    throw InvalidStateError(std::string(caller) + ": the runtime is shutting down or shut down");
  const auto handler = std::make_shared<const std::function<void()>>(std::move(fn));
  std::shared_ptr<SignalHub> fresh;
  for (;;) {
    if (const auto id = try_add(core, sig, handler, options, caller, fresh)) return *id;
    fresh = make_hub(core, runtime);
  }
}

bool remove_signal_handler_if(int sig, std::uint64_t id) {
  check_range(sig, "weft::remove_signal_handler");
  SignalTable& signals = table();
  Leftovers later;
  std::lock_guard guard(signals.mutex);
  const Registration& entry = signals.entries[sig];
  if (!entry.hub || (id != 0 && entry.id != id)) return false;
  restore_locked(signals, sig, later);
  return true;
}

}  // namespace weft::io

namespace weft {

void add_signal_handler(int sig, std::function<void()> fn) {
  (void)io::add_signal_handler_to(nullptr, sig, std::move(fn), {}, "weft::add_signal_handler");
}

void add_signal_handler(Runtime& runtime, int sig, std::function<void()> fn) {
  (void)io::add_signal_handler_to(&runtime, sig, std::move(fn), {}, "weft::add_signal_handler");
}

bool remove_signal_handler(int sig) {
  return io::remove_signal_handler_if(sig, 0);
}

}  // namespace weft

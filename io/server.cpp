// start_server / start_unix_server: listening sockets, one accept loop fiber per socket, one
// fiber per connection.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <list>
#include <mutex>
#include <vector>

#include <weft/net.hpp>
#include <weft/task.hpp>

#include "io/address.hpp"
#include "io/stream_state.hpp"
#include "sched/current.hpp"
#include "sched/scheduler.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

struct ServerState : std::enable_shared_from_this<ServerState> {
  struct Client {
    TaskRef task;  // set right after the spawn, under mutex
  };

  ConnectionHandler handler;
  ServerOptions options;
  std::vector<std::unique_ptr<io::Socket>> listeners;
  std::vector<TaskRef> accept_loops;
  std::uint16_t port = 0;
  std::string address;
  std::string unix_path;
  std::atomic<bool> serving{false};
  sync::Flag closed;
  std::mutex mutex;  // guards clients
  std::list<std::shared_ptr<Client>> clients;
  std::atomic<std::size_t> active{0};
  std::uint64_t last_fd_warning_ns = 0;  // accept loops only; racy reads are harmless

  void accept_loop(io::Socket& listener);
  void serve(int fd);
  void close() noexcept;
};

void ServerState::accept_loop(io::Socket& listener) {
  std::uint32_t backoff_ms = 1;
  for (;;) {
    int fd;
    try {
      fd = listener.accept(nullptr, nullptr, io::kNoDeadline);
    } catch (const OSError& error) {
      if (!listener.is_open() || closed.is_set()) return;
      const int code = error.code().value();
      if (code != EMFILE && code != ENFILE && code != ENOBUFS && code != ENOMEM) throw;
      // Out of fds or memory: the pending connection stays queued in the kernel. Back off (up
      // to 100 ms) instead of spinning, and try again once something has been freed.
      const std::uint64_t now = io::now_ns();
      if (now - last_fd_warning_ns > 1'000'000'000) {
        last_fd_warning_ns = now;
        std::fprintf(stderr, "weft: server %s cannot accept: %s; retrying in %u ms\n",
                     address.c_str(), error.what(), backoff_ms);
      }
      weft::sleep(std::chrono::milliseconds(backoff_ms));
      backoff_ms = backoff_ms >= 50 ? 100 : backoff_ms * 2;
      continue;
    }
    backoff_ms = 1;
    serve(fd);
  }
}

void ServerState::serve(int fd) {
  auto client = std::make_shared<Client>();
  std::list<std::shared_ptr<Client>>::iterator position;
  {
    std::lock_guard guard(mutex);
    position = clients.insert(clients.end(), client);
  }
  active.fetch_add(1, std::memory_order_relaxed);
  auto body = [self = shared_from_this(), client, position, fd] {
    // Whatever happens, the client leaves the list when this fiber ends.
    struct Leave {
      ServerState* server;
      std::list<std::shared_ptr<Client>>::iterator position;
      ~Leave() {
        std::lock_guard guard(server->mutex);
        server->clients.erase(position);
        server->active.fetch_sub(1, std::memory_order_relaxed);
      }
    } leave{self.get(), position};
    io::Socket socket(fd);
    if (self->options.nodelay) io::set_nodelay(fd);
    auto state = std::make_shared<StreamState>(std::move(socket), self->options.limit);
    StreamReader reader(state);
    StreamWriter writer(state);
    try {
      self->handler(reader, writer);
    } catch (const CancelledError&) {
      writer.close();
      throw;
    } catch (const std::exception& error) {
      // asyncio logs an exception that escapes a client callback; so do we, then close.
      std::fprintf(stderr, "weft: connection handler for %s failed: %s\n",
                   io::peer_name(state->socket.fd()).c_str(), error.what());
    }
    writer.close();
  };
  Task<void> task = weft::spawn(std::move(body));
  std::lock_guard guard(mutex);
  client->task = task.ref();
}

void ServerState::close() noexcept {
  if (!serving.exchange(false)) return;
  for (auto& listener : listeners) listener->close();  // wakes the accept loops
  for (const TaskRef& loop : accept_loops) loop.cancel("the server was closed");
  if (!unix_path.empty()) ::unlink(unix_path.c_str());
  closed.set();
}

namespace {

int listening_socket(const io::Endpoint& endpoint, const ServerOptions& options, bool reuse_port) {
  const int fd = io::open_socket(endpoint.family(), SOCK_STREAM);
  const int one = 1;
  if (options.reuse_address && endpoint.family() != AF_UNIX)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (endpoint.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const std::string where = io::to_string(endpoint.get(), endpoint.length);
  if (::bind(fd, endpoint.get(), endpoint.length) != 0) {
    const int error = errno;
    ::close(fd);
    throw_os_error(error, "weft: cannot bind " + where);
  }
  if (::listen(fd, options.backlog) != 0) {
    const int error = errno;
    ::close(fd);
    throw_os_error(error, "weft: cannot listen on " + where);
  }
  return fd;
}

io::Endpoint with_port(io::Endpoint endpoint, std::uint16_t port) {
  if (endpoint.family() == AF_INET)
    reinterpret_cast<sockaddr_in*>(&endpoint.storage)->sin_port = htons(port);
  else if (endpoint.family() == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(&endpoint.storage)->sin6_port = htons(port);
  return endpoint;
}

Server start(std::shared_ptr<ServerState> state, const std::vector<io::Endpoint>& endpoints) {
  sched::Worker* worker = &sched::fiber_worker("start_server");
  const bool reuse_port = state->options.reuse_port && state->unix_path.empty();
  const std::size_t copies = reuse_port ? worker->scheduler().workers.size() : 1;
  for (const io::Endpoint& base : endpoints) {
    // Port 0 picks a free port once; every other socket binds that same port.
    io::Endpoint endpoint = state->port ? with_port(base, state->port) : base;
    for (std::size_t i = 0; i < copies; ++i) {
      auto socket =
          std::make_unique<io::Socket>(listening_socket(endpoint, state->options, reuse_port));
      if (state->unix_path.empty() && state->port == 0) {
        sockaddr_storage bound{};
        socklen_t length = sizeof bound;
        getsockname(socket->fd(), reinterpret_cast<sockaddr*>(&bound), &length);
        state->port = io::port_of(reinterpret_cast<sockaddr*>(&bound));
        endpoint = with_port(base, state->port);
      }
      if (!state->address.empty()) state->address += ", ";
      state->address += state->unix_path.empty() ? io::sock_name(socket->fd()) : state->unix_path;
      state->listeners.push_back(std::move(socket));
    }
  }
  // SO_REUSEPORT: listening socket i is watched by worker i's reactor, so each worker accepts
  // (and its connections start there) whichever worker the accept loop fibers first run on.
  if (reuse_port) {
    auto& workers = worker->scheduler().workers;
    for (std::size_t i = 0; i < state->listeners.size(); ++i)
      state->listeners[i]->watch_on(*workers[i % workers.size()]);
  }
  state->serving = true;
  // However an accept loop ends (close, an error, or cancelled at shutdown, maybe before it
  // ever ran), dropping its callable closes the server while the runtime that watches the
  // sockets is certainly alive: a Server object may outlive its runtime.
  struct CloseOnDrop {
    std::shared_ptr<ServerState> server;
    explicit CloseOnDrop(std::shared_ptr<ServerState> s) : server(std::move(s)) {}
    CloseOnDrop(CloseOnDrop&&) noexcept = default;
    CloseOnDrop(const CloseOnDrop&) = delete;
    CloseOnDrop& operator=(const CloseOnDrop&) = delete;
    CloseOnDrop& operator=(CloseOnDrop&&) = delete;
    ~CloseOnDrop() {
      if (server) server->close();
    }
  };
  for (auto& listener : state->listeners) {
    io::Socket* raw = listener.get();
    state->accept_loops.push_back(
        weft::spawn([owner = CloseOnDrop(state), raw] { owner.server->accept_loop(*raw); }).ref());
  }
  return Server(std::move(state));
}

}  // namespace
}  // namespace weft::detail

namespace weft {

Server start_server(ConnectionHandler handler, std::string_view host, std::uint16_t port,
                    ServerOptions options) {
  auto state = std::make_shared<detail::ServerState>();
  state->handler = std::move(handler);
  state->options = options;
  return detail::start(state, io::resolve(host, port, SOCK_STREAM, true));
}

Server start_unix_server(ConnectionHandler handler, std::string_view path, ServerOptions options) {
  auto state = std::make_shared<detail::ServerState>();
  state->handler = std::move(handler);
  state->options = options;
  state->unix_path = std::string(path);
  const io::Endpoint endpoint = io::unix_endpoint(path);
  // A socket file left by an earlier server would make bind fail; other files are not ours.
  struct stat info {};
  if (::stat(state->unix_path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode))
    ::unlink(state->unix_path.c_str());
  return detail::start(state, {endpoint});
}

Server::~Server() {
  close();
}

std::uint16_t Server::port() const noexcept {
  return state_ ? state_->port : 0;
}

std::string Server::address() const {
  return state_ ? state_->address : std::string();
}

bool Server::is_serving() const noexcept {
  return state_ && state_->serving.load();
}

void Server::serve_forever() {
  if (!state_) throw InvalidStateError("weft: Server is empty");
  try {
    state_->closed.wait(io::kNoDeadline, "serving forever");
  } catch (const CancelledError&) {
    close();  // asyncio: cancelling serve_forever closes the server
    throw;
  }
}

void Server::close() noexcept {
  if (state_) state_->close();
}

void Server::close_clients() noexcept {
  if (!state_) return;
  std::lock_guard guard(state_->mutex);
  for (const auto& client : state_->clients)
    if (client->task) client->task.cancel("the server closed its clients");
}

void Server::wait_closed() {
  if (!state_) return;
  state_->closed.wait(io::kNoDeadline, "waiting for a server to close");
  for (const TaskRef& loop : state_->accept_loops) loop.wait();
  for (;;) {
    TaskRef next;
    {
      std::lock_guard guard(state_->mutex);
      if (state_->clients.empty()) return;
      next = state_->clients.front()->task;
    }
    if (next)
      next.wait();
    else
      weft::yield_now();  // spawned a moment ago; its handle is being stored
  }
}

std::size_t Server::active_connections() const noexcept {
  return state_ ? state_->active.load(std::memory_order_relaxed) : 0;
}

}  // namespace weft

#include "io/stream_state.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <mutex>

#include <weft/errors.hpp>
#include <weft/task.hpp>

#include "io/timed_park.hpp"
#include "sched/current.hpp"
#include "sched/task_block.hpp"
#include "sched/worker.hpp"

namespace weft::detail {

std::uint64_t StreamState::read_deadline() const noexcept {
  return read_timeout ? io::deadline_after(*read_timeout) : io::kNoDeadline;
}

bool StreamState::fill(std::size_t want) {
  if (eof) return false;
  constexpr std::size_t kChunk = std::size_t{64} * 1024;
  const std::size_t room = want > kChunk ? want : kChunk;
  char* space = in.prepare(room);
  std::size_t got;
  try {
    got = socket.recv(space, room, read_deadline());
  } catch (const OSError& error) {
    // Our own writer closed the connection: for the reader that is the end of the stream.
    bool closing_now;
    {
      std::lock_guard guard(drain_waiters.lock());
      closing_now = closing;
    }
    if (error.code().value() == EBADF && closing_now) {
      eof = true;
      return false;
    }
    throw;
  }
  if (got == 0) {
    eof = true;
    return false;
  }
  in.commit(got);
  return true;
}

void StreamState::write(std::string_view data) {
  {
    std::unique_lock guard(drain_waiters.lock());
    if (error) std::rethrow_exception(error);
    if (closing || eof_requested)
      throw InvalidStateError("weft: StreamWriter::write() after close() or write_eof()");
    if (data.empty()) return;
    if (!flushing) {
      // Nothing buffered: straight to the socket (the common case costs one send()).
      std::size_t sent;
      try {
        sent = socket.try_send(data.data(), data.size());
      } catch (...) {
        error = std::current_exception();
        throw;
      }
      if (sent == data.size()) return;
      data.remove_prefix(sent);
      flushing = true;
      out.append(data);
    } else {
      out.append(data);
      return;
    }
  }
  // The socket buffer is full: a flusher sends the rest as the peer reads.
  (void)weft::spawn({.fresh_context = true},  // a background task of the stream, not the writer's
                    [self = shared_from_this()] { self->run_flusher(); });
}

void StreamState::run_flusher() {
  io::ByteBuffer sending;
  for (;;) {
    {
      std::lock_guard guard(drain_waiters.lock());
      in_flight = 0;
      if (pending_locked() <= low_water) drain_waiters.notify_all();
      if (out.empty() || error) {
        flushing = false;
        if (closing) {
          finish_locked_close();
        } else if (eof_requested && !error) {
          ::shutdown(socket.fd(), SHUT_WR);
        }
        return;
      }
      sending.swap(out);
      in_flight = sending.size();
    }
    try {
      while (!sending.empty()) {
        const std::size_t sent = socket.send(sending.data(), sending.size());
        sending.consume(sent);
        std::lock_guard guard(drain_waiters.lock());
        in_flight = sending.size();
        if (pending_locked() <= low_water) drain_waiters.notify_all();
      }
    } catch (const CancelledError&) {
      // The runtime is shutting down: the connection goes with it.
      std::lock_guard guard(drain_waiters.lock());
      error = std::make_exception_ptr(ConnectionAbortedError(
          ECONNABORTED, "weft: the runtime shut down while data was being sent"));
      closing = true;
    } catch (...) {
      std::lock_guard guard(drain_waiters.lock());
      error = std::current_exception();
    }
    sending.shrink_if_idle(std::size_t{256} * 1024);
  }
}

void StreamState::drain() {
  sched::Worker* worker = sched::current_worker();
  TaskBlock* task = worker ? worker->current_task() : nullptr;
  std::unique_lock guard(drain_waiters.lock());
  if (error) std::rethrow_exception(error);
  if (pending_locked() <= high_water) return;
  while (pending_locked() > low_water && flushing && !error) {
    if (!task) throw std::logic_error("weft: StreamWriter::drain() needs a weft fiber");
    sched::Waiter waiter(task);
    drain_waiters.push_back(waiter);
    guard.unlock();
    const sched::WakeReason why = io::park_until(waiter, "draining a stream", io::kNoDeadline);
    drain_waiters.leave(waiter);
    if (why == sched::WakeReason::cancelled) throw_cancelled(task);
    guard.lock();
  }
  if (error) std::rethrow_exception(error);
}

void StreamState::close() noexcept {
  std::lock_guard guard(drain_waiters.lock());
  if (closing) return;
  closing = true;
  if (!flushing) finish_locked_close();
}

void StreamState::finish_locked_close() noexcept {
  socket.close();
  closed.set();
  drain_waiters.notify_all();
}

void StreamState::write_eof() {
  std::lock_guard guard(drain_waiters.lock());
  if (closing || eof_requested) return;
  eof_requested = true;
  if (!flushing) ::shutdown(socket.fd(), SHUT_WR);
}

}  // namespace weft::detail

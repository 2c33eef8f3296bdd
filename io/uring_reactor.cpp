// The io_uring backend: readiness through multishot poll requests (one per fd, armed once, as
// epoll's edge-triggered registration), so a busy worker collects every fd's readiness with
// no system call at all, and an idle one submits and waits in one io_uring_enter.
// Submissions come only from the owner thread (an io_uring submission queue has one
// producer); other threads hand their requests over through `remote_` and unpark().
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "io/file_op.hpp"
#include "io/io_registry.hpp"
#include "io/reactor.hpp"
#include "sync/spin_lock.hpp"

namespace weft::io {
namespace {

constexpr std::uint64_t kWakeKey = UINT64_MAX;
// A poll removal carries the key of the poll it removes with this bit set (slot keys never
// have it: slot indexes stay below 2^24), so a refused removal can be submitted again.
constexpr std::uint64_t kRemoveBit = std::uint64_t{1} << 63;
// A file operation's completion carries its FileOp's address with this bit set (user-space
// addresses stay below 2^47).
constexpr std::uint64_t kFileOpBit = std::uint64_t{1} << 62;
constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLRDHUP;
constexpr unsigned kEntries = 256;

class UringReactor final : public Reactor {
 public:
  // Throws std::system_error if the kernel refuses a ring.
  explicit UringReactor(IoRegistry& registry) : Reactor(registry) {
    io_uring_params params{};
    // Completions are collected when the owner enters the kernel anyway, instead of
    // interrupting a busy worker to post them.
    params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int rc = io_uring_queue_init_params(kEntries, &ring_, &params);
    if (rc == -EINVAL) {  // older kernel: no COOP_TASKRUN
      params = {};
      rc = io_uring_queue_init_params(kEntries, &ring_, &params);
    }
    if (rc < 0) throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
    if (!(params.features & IORING_FEAT_EXT_ARG)) {
      io_uring_queue_exit(&ring_);
      throw std::runtime_error("the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11)");
    }
    taskrun_flag_ = (params.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
    arm_poll(wake_.fd(), kWakeKey);
    io_uring_submit(&ring_);
  }
  ~UringReactor() override { io_uring_queue_exit(&ring_); }

  void poll(std::int64_t timeout_ns) override {
    take_remote_requests();
    if (timeout_ns == 0) {
      // COOP_TASKRUN: completions wait for us to enter the kernel; only do so when there is
      // work pending (the kernel tells us through IORING_SQ_TASKRUN) or SQEs to submit.
      const bool taskrun =
          !taskrun_flag_ || (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) != 0;
      if (io_uring_sq_ready(&ring_) != 0 || taskrun) io_uring_submit_and_get_events(&ring_);
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout_ns < 0 ? nullptr : &ts, nullptr);
    }
    reap();
  }

  void watch(int fd, std::uint64_t key) override {
    watched_.fetch_add(1, std::memory_order_relaxed);
    if (on_owner()) {
      arm_poll(fd, key);
      // Submitted now: the first readiness report may already be due.
      io_uring_submit(&ring_);
      return;
    }
    hand_over({key, fd, true});
  }

  void unwatch(int, std::uint64_t key) noexcept override {
    // The poll request holds a reference to the file: without a removal the socket would stay
    // open after close().
    watched_.fetch_sub(1, std::memory_order_relaxed);
    if (on_owner()) {
      remove_poll(key);
      io_uring_submit(&ring_);
      return;
    }
    hand_over({key, -1, false});
  }

  [[nodiscard]] Backend backend() const noexcept override { return Backend::io_uring; }

  bool start_file_op(FileOp& op) override {
    io_uring_sqe* sqe = next_sqe();
    switch (op.kind) {
      case FileOp::Kind::open:
        io_uring_prep_openat(sqe, AT_FDCWD, op.path, op.flags, op.mode);
        break;
      case FileOp::Kind::read:
        io_uring_prep_read(sqe, op.fd, op.buffer, op.length, op.offset);
        break;
      case FileOp::Kind::write:
        io_uring_prep_write(sqe, op.fd, op.buffer, op.length, op.offset);
        break;
      case FileOp::Kind::fsync:
        io_uring_prep_fsync(sqe, op.fd, 0);
        break;
      case FileOp::Kind::close:
        io_uring_prep_close(sqe, op.fd);
        break;
    }
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&op) | kFileOpBit);
    // Counted as watched while in flight, so a busy worker keeps polling for its completion.
    watched_.fetch_add(1, std::memory_order_relaxed);
    io_uring_submit(&ring_);
    return true;
  }

 private:
  // A watch or a poll removal asked for by another thread.
  struct RemoteRequest {
    std::uint64_t key;
    int fd;
    bool watch;
  };

  void hand_over(RemoteRequest request) noexcept {
    {
      std::lock_guard guard(remote_lock_);
      remote_.push_back(request);
      remote_pending_.store(true, std::memory_order_release);
    }
    unpark();
  }

  io_uring_sqe* next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {  // the submission queue is full: hand it to the kernel and retry
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void arm_poll(int fd, std::uint64_t key) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_poll_multishot(sqe, fd, kPollMask);
    io_uring_sqe_set_data64(sqe, key);
  }

  void remove_poll(std::uint64_t key) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_poll_remove(sqe, key);
    io_uring_sqe_set_data64(sqe, key | kRemoveBit);
  }

  void take_remote_requests() {
    if (!remote_pending_.load(std::memory_order_acquire)) return;
    std::vector<RemoteRequest> requests;
    {
      std::lock_guard guard(remote_lock_);
      requests.swap(remote_);
      remote_pending_.store(false, std::memory_order_relaxed);
    }
    for (const RemoteRequest& request : requests) {
      if (!request.watch)
        remove_poll(request.key);
      else if (registry_.fd_of(request.key) == request.fd)  // not closed meanwhile
        arm_poll(request.fd, request.key);
    }
  }

  void reap() {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      handle(io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring_, seen);
  }

  void handle(std::uint64_t key, int res, unsigned flags) {
    const bool rearm = (flags & IORING_CQE_F_MORE) == 0;
    if (key == kWakeKey) {
      wake_.drain();
      if (rearm) arm_poll(wake_.fd(), kWakeKey);
      return;
    }
    if (key & kFileOpBit) {
      auto* op = reinterpret_cast<FileOp*>(static_cast<std::uintptr_t>(key & ~kFileOpBit));
      watched_.fetch_sub(1, std::memory_order_relaxed);
      op->result = res;
      op->waiter->fire(sched::WakeReason::notified);  // the op is the fiber's from here on
      return;
    }
    if (key & kRemoveBit) {
      // EALREADY: the poll was busy posting a wake-up and is still armed, holding the file
      // open; ask again until it is gone (ENOENT: it had already ended).
      if (res == -EALREADY) remove_poll(key & ~kRemoveBit);
      return;
    }
    if (res > 0)
      registry_.deliver(key, readiness_of_poll_events(static_cast<std::uint32_t>(res)));
    else if (res != -ECANCELED && res != -ENOENT)
      registry_.deliver(key, kReadable | kWritable | kHangup);  // the retried call reports it
    // The kernel ended the multishot request (e.g. on CQ overflow): arm it again while the key
    // still names an open fd; a removed or stale one ends here.
    if (rearm && res != -ECANCELED) {
      const int fd = registry_.fd_of(key);
      if (fd >= 0) arm_poll(fd, key);
    }
  }

  io_uring ring_{};
  bool taskrun_flag_ = false;
  std::atomic<bool> remote_pending_{false};
  sync::SpinLock remote_lock_;
  std::vector<RemoteRequest> remote_;  // guarded by remote_lock_
};

}  // namespace

std::unique_ptr<Reactor> make_uring_reactor(IoRegistry& registry, std::string& why_not) {
  try {
    return std::make_unique<UringReactor>(registry);
  } catch (const std::exception& error) {
    why_not = error.what();
    return nullptr;
  }
}

}  // namespace weft::io

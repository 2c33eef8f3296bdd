#pragma once
// Tasks: spawn a callable as a fiber, await it with get(). asyncio's create_task / Task.
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/detail/task_block.hpp"
#include "weft/errors.hpp"
#include "weft/export.hpp"

namespace weft {

// Names a callback given to add_done_callback (std::function cannot be compared, so asyncio's
// remove_done_callback(fn) takes this instead).
enum class DoneCallbackId : std::uint64_t {};

// An untyped, shared handle to a task: what current_task(), all_tasks() and done callbacks
// hand out. Holding one keeps the task's record (not its fiber) alive.
class WEFT_API TaskRef {
 public:
  TaskRef() = default;
  explicit TaskRef(detail::TaskBlock* block) noexcept : block_(block) {
    if (block_) detail::retain(block_);
  }
  TaskRef(const TaskRef& other) noexcept : TaskRef(other.block_) {}
  TaskRef(TaskRef&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  TaskRef& operator=(TaskRef other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~TaskRef() {
    if (block_) detail::release(block_);
  }

  explicit operator bool() const noexcept { return block_ != nullptr; }
  [[nodiscard]] bool done() const noexcept { return detail::is_done(block_); }
  [[nodiscard]] bool cancelled() const noexcept { return detail::is_cancelled(block_); }
  // Requests cancellation; false if the task is already done.
  bool cancel(std::string message = {}) const { return detail::cancel(block_, std::move(message)); }
  // asyncio's Task.cancelling() / Task.uncancel() (what Timeout and TaskGroup build on).
  [[nodiscard]] unsigned cancelling() const noexcept { return detail::cancelling(block_); }
  unsigned uncancel() const noexcept { return detail::uncancel(block_); }
  [[nodiscard]] std::string name() const { return detail::name_of(block_); }
  void set_name(std::string name) const { detail::set_name(block_, std::move(name)); }
  [[nodiscard]] unsigned long long id() const noexcept { return detail::id_of(block_); }
  // Parks until the task is done, without retrieving its result.
  void wait() const { detail::await_done(block_); }
  DoneCallbackId add_done_callback(std::function<void(TaskRef)> callback) const {
    return DoneCallbackId{detail::add_done_callback(block_, std::move(callback))};
  }
  bool remove_done_callback(DoneCallbackId id) const {
    return detail::remove_done_callback(block_, static_cast<std::uint64_t>(id));
  }
  [[nodiscard]] std::exception_ptr exception() const { return detail::exception_of(block_); }

  friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept {
    return a.block_ == b.block_;
  }
  detail::TaskBlock* block() const noexcept { return block_; }

 private:
  detail::TaskBlock* block_ = nullptr;
};

// A move-only handle to a spawned task producing T. Dropping it detaches the task, which keeps
// running (weft::run / Runtime::shutdown still cancel and join it at the end).
template <class T>
class Task {
 public:
  using value_type = T;

  Task() = default;
  explicit Task(detail::TaskBlock* adopted) noexcept : block_(adopted) {}
  Task(Task&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  // Awaits the task: parks the calling fiber (blocks a plain thread) until it is done, then
  // returns its result or rethrows its exception (CancelledError if it was cancelled).
  // May be called once; a second call throws InvalidStateError. As with asyncio's
  // `await task`, cancelling the awaiting fiber cancels the task too and waits for it to end
  // (weft::shield awaits without that).
  T get() {
    detail::await_task(checked());
    detail::claim_result(block_);
    return take();
  }
  // Reads a finished task without parking: InvalidStateError if not done yet. Unlike get(),
  // may be called repeatedly (T is copied).
  T result() const {
    detail::rethrow_if_failed(checked());
    if constexpr (!std::is_void_v<T>) return typed()->value();
  }
  [[nodiscard]] std::exception_ptr exception() const { return detail::exception_of(checked()); }
  [[nodiscard]] bool done() const noexcept { return block_ && detail::is_done(block_); }
  [[nodiscard]] bool cancelled() const noexcept { return block_ && detail::is_cancelled(block_); }
  bool cancel(std::string message = {}) { return detail::cancel(checked(), std::move(message)); }
  // cancel() requests not taken back yet; uncancel() takes one back and returns what is left.
  [[nodiscard]] unsigned cancelling() const { return detail::cancelling(checked()); }
  unsigned uncancel() { return detail::uncancel(checked()); }
  [[nodiscard]] std::string name() const { return detail::name_of(checked()); }
  void set_name(std::string name) { detail::set_name(checked(), std::move(name)); }
  [[nodiscard]] unsigned long long id() const { return detail::id_of(checked()); }
  // Runs callback(task) once the task is done: on the fiber that finishes it, or at once if it
  // is done already. Returns an id for remove_done_callback.
  DoneCallbackId add_done_callback(std::function<void(TaskRef)> callback) {
    return DoneCallbackId{detail::add_done_callback(checked(), std::move(callback))};
  }
  // False if the callback ran already or was removed before.
  bool remove_done_callback(DoneCallbackId id) {
    return detail::remove_done_callback(checked(), static_cast<std::uint64_t>(id));
  }
  // Parks until done without retrieving the result.
  void wait() const { detail::await_done(checked()); }
  [[nodiscard]] TaskRef ref() const { return TaskRef(checked()); }
  explicit operator bool() const noexcept { return block_ != nullptr; }
  detail::TaskBlock* block() const noexcept { return block_; }

 private:
  detail::TaskBlock* checked() const {
    if (!block_) throw InvalidStateError("weft::Task: empty handle (moved from or default)");
    return block_;
  }
  detail::TypedBody<T>* typed() const {
    return static_cast<detail::TypedBody<T>*>(detail::body_of(block_));
  }
  T take() {
    if constexpr (!std::is_void_v<T>) return std::move(typed()->value());
  }
  void reset() noexcept {
    if (block_) detail::release(std::exchange(block_, nullptr));
  }

  detail::TaskBlock* block_ = nullptr;
};

// How to spawn a task: `weft::spawn({.name = "fetch", .eager = true}, fn)`.
struct TaskOptions {
  std::string_view name{};
  // Run the task at once, on the spawning fiber's worker, until its first suspension point
  // (asyncio's eager_task_factory); the spawner resumes right after. A task that finishes
  // without suspending is done when spawn() returns.
  bool eager = false;
  // Start with an empty context instead of a copy of the spawner's ContextVar values (for
  // background tasks that must not keep, or see, the values of whoever started them).
  bool fresh_context = false;
};
// `weft::spawn(weft::eager, fn)`.
inline constexpr TaskOptions eager{.eager = true};

namespace detail {
// The scheduler's options for a spawn with the user's `options`, into `group` if any.
constexpr SpawnOptions spawn_options(const TaskOptions& options,
                                     GroupCore* group = nullptr) noexcept {
  return {.name = options.name,
          .eager = options.eager,
          .group = group,
          .fresh_context = options.fresh_context};
}

template <class F>
Task<TaskResultOf<F>> spawn_on(Runtime* runtime, F&& fn, const SpawnOptions& options) {
  using T = TaskResultOf<F>;
  using Body = SpawnBody<std::decay_t<F>, T>;
  TaskBlock* block = make_block<Body>(BlockKind::task, std::forward<F>(fn));
  return Task<T>(schedule_new(block, runtime, options));
}
}  // namespace detail

// asyncio.create_task: schedules fn on the calling fiber's runtime. The newest spawn runs first
// on this worker (depth-first), idle workers steal the oldest. Outside a fiber: std::logic_error
// (use Runtime::spawn).
template <class F>
Task<detail::TaskResultOf<F>> spawn(F&& fn) {
  return detail::spawn_on(nullptr, std::forward<F>(fn), {});
}
template <class F>
Task<detail::TaskResultOf<F>> spawn(std::string_view name, F&& fn) {
  return detail::spawn_on(nullptr, std::forward<F>(fn), {.name = name});
}
template <class F>
Task<detail::TaskResultOf<F>> spawn(TaskOptions options, F&& fn) {
  return detail::spawn_on(nullptr, std::forward<F>(fn), detail::spawn_options(options));
}

namespace detail {
WEFT_API void enter_uncancellable() noexcept;
WEFT_API void leave_uncancellable() noexcept;
}  // namespace detail

// Runs fn inline with cancellation held back (Trio's shielded cancel scope): a cancel(), or the
// expiry of a Timeout opened outside, does not cut fn's waits short; it takes effect at the
// first suspension point after fn returns. A Timeout opened inside fn still expires, so a
// cleanup can bound its own wait. For cleanup that has to wait, such as a destructor
// that closes a connection gracefully (a CancelledError must never leave a destructor). Outside
// a fiber it just runs fn.
template <class F>
decltype(auto) uncancellable(F&& fn) {
  struct Section {
    Section() noexcept { detail::enter_uncancellable(); }
    ~Section() { detail::leave_uncancellable(); }
    Section(const Section&) = delete;
    Section& operator=(const Section&) = delete;
  } section;
  return std::forward<F>(fn)();
}

// asyncio.sleep(0): lets every other ready task on this worker run first (with none, it returns
// at once, without a switch). A suspension point (raises CancelledError if the task was
// cancelled).
WEFT_API void yield_now();
// True on a weft fiber.
[[nodiscard]] WEFT_API bool in_fiber() noexcept;
// The running task (asyncio.current_task); an empty TaskRef outside a fiber.
[[nodiscard]] WEFT_API TaskRef current_task();
// Every unfinished task of the calling fiber's runtime (asyncio.all_tasks).
[[nodiscard]] WEFT_API std::vector<TaskRef> all_tasks();

}  // namespace weft

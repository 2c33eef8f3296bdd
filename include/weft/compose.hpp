#pragma once
// asyncio's composition functions over tasks: gather, gather_all, wait, as_completed, wait_for
// and shield. All of them are fiber-only (std::logic_error elsewhere).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "weft/detail/multi_wait.hpp"
#include "weft/detail/pull_iterator.hpp"
#include "weft/errors.hpp"
#include "weft/task.hpp"
#include "weft/time.hpp"
#include "weft/timeout.hpp"

namespace weft {

// The outcome of one task as gather_all(..., return_exceptions) reports it.
template <class T>
class Result {
 public:
  explicit Result(T value) : value_(std::move(value)) {}
  explicit Result(std::exception_ptr error) : error_(std::move(error)) {}
  [[nodiscard]] bool ok() const noexcept { return !error_; }
  // The value; rethrows the task's exception if it failed (CancelledError if cancelled).
  T& value() & {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  const T& value() const& {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }
  T&& value() && {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }
  [[nodiscard]] std::exception_ptr exception() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  std::exception_ptr error_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  explicit Result(std::exception_ptr error) : error_(std::move(error)) {}
  [[nodiscard]] bool ok() const noexcept { return !error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }
  [[nodiscard]] std::exception_ptr exception() const noexcept { return error_; }

 private:
  std::exception_ptr error_;
};

struct ReturnExceptions {
  explicit ReturnExceptions() = default;
};
// gather_all(tasks, weft::return_exceptions): failures become Results instead of propagating.
inline constexpr ReturnExceptions return_exceptions{};

// When wait() returns (asyncio's return_when).
enum class ReturnWhen : unsigned char { first_completed, first_exception, all_completed };
inline constexpr ReturnWhen FirstCompleted = ReturnWhen::first_completed;
inline constexpr ReturnWhen FirstException = ReturnWhen::first_exception;
inline constexpr ReturnWhen AllCompleted = ReturnWhen::all_completed;

// wait()'s answer: `auto [done, pending] = weft::wait(...)`. Element is Task<T>* for tasks
// passed by reference (they stay where they are), Task<T> for tasks passed by value (moved in).
template <class E>
struct WaitResult {
  std::vector<E> done;
  std::vector<E> pending;
};

namespace detail {

template <class X>
struct IsTask : std::false_type {};
template <class T>
struct IsTask<Task<T>> : std::true_type {};
template <class X>
inline constexpr bool is_task_v = IsTask<std::remove_cvref_t<X>>::value;

// gather's arguments: tasks are used where they are (a temporary one lives until the end of
// the caller's full expression, which outlasts gather), callables are spawned first.
template <class A, bool = is_task_v<A>>
struct GatheredTaskOf {
  using type = std::remove_cvref_t<A>&;
};
template <class A>
struct GatheredTaskOf<A, false> {
  using type = Task<TaskResultOf<A>>;
};
template <class A>
using GatheredTask = typename GatheredTaskOf<A>::type;

template <class A>
GatheredTask<A> as_task(A&& arg) {
  if constexpr (is_task_v<A>) {
    return static_cast<std::remove_cvref_t<A>&>(arg);
  } else {
    return spawn(std::forward<A>(arg));
  }
}

template <class T>
using GatherValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
GatherValue<T> take_value(Task<T>& task) {
  if constexpr (std::is_void_v<T>) {
    task.get();
    return {};
  } else {
    return task.get();
  }
}

template <class T>
Result<T> take_result(Task<T>& task) {
  try {
    if constexpr (std::is_void_v<T>) {
      task.get();
      return Result<void>();
    } else {
      return Result<T>(task.get());
    }
  } catch (...) {
    return Result<T>(std::current_exception());
  }
}

template <class R>
using TaskOfRange = std::remove_cvref_t<std::ranges::range_reference_t<R>>;
template <class R>
using ValueOfRange = typename TaskOfRange<R>::value_type;

template <class R>
std::vector<TaskBlock*> blocks_of(R& tasks) {
  std::vector<TaskBlock*> blocks;
  if constexpr (std::ranges::sized_range<R>) blocks.reserve(std::ranges::size(tasks));
  for (auto& task : tasks) {
    if (!task) throw InvalidStateError("weft: an empty Task handle among the tasks");
    blocks.push_back(task.block());
  }
  return blocks;
}

inline bool succeeded(const TaskBlock* block) noexcept {
  return is_done(block) && !is_cancelled(block) && !is_failed(block);
}

template <class Gathered, class... Tasks>
Gathered gather_tasks(Tasks&... tasks) {
  std::array<TaskBlock*, sizeof...(Tasks)> blocks{tasks.block()...};
  for (TaskBlock* block : blocks)
    if (!block) throw InvalidStateError("weft::gather: an empty Task handle");
  const MultiWaitResult r = wait_blocks(blocks.data(), blocks.size(), WaitUntil::first_failure,
                                        UINT64_MAX, OnCancel::cancel_all);
  if (r.trigger != SIZE_MAX && !succeeded(blocks[r.trigger])) {
    // The first failure propagates; the other tasks keep running (asyncio.gather).
    std::size_t index = 0;
    ((index++ == r.trigger ? (void)tasks.get() : void()), ...);
  }
  return Gathered{take_value(tasks)...};
}

}  // namespace detail

// asyncio.gather(*tasks): waits for every task (a callable is spawned first) and returns their
// results as a tuple, std::monostate standing for void. The first task to fail makes gather
// rethrow its exception at once; the others keep running. Cancelling the gathering fiber
// cancels every task (and waits for them).
template <class... A>
auto gather(A&&... args) {
  static_assert(sizeof...(A) > 0, "weft::gather needs at least one task");
  std::tuple<detail::GatheredTask<A>...> tasks(detail::as_task(std::forward<A>(args))...);
  using Gathered = std::tuple<
      detail::GatherValue<typename std::remove_cvref_t<detail::GatheredTask<A>>::value_type>...>;
  return std::apply([](auto&... t) { return detail::gather_tasks<Gathered>(t...); }, tasks);
}

// The range functions below walk their range more than once (to wait, then to take results),
// so they take forward ranges: a single-pass range (a generator view, an istream view) does not
// compile rather than being read twice.
//
// gather over a range of Task<T> (moved in or by reference; either way their results are taken
// as by get()). Returns std::vector<T> (nothing for void); the first failure propagates.
template <std::ranges::forward_range R>
requires detail::is_task_v<std::ranges::range_reference_t<R>>
auto gather_all(R&& tasks) {
  using T = detail::ValueOfRange<R>;
  std::vector<detail::TaskBlock*> blocks = detail::blocks_of(tasks);
  if (blocks.empty()) {
    if constexpr (std::is_void_v<T>)
      return;
    else
      return std::vector<T>{};
  }
  const detail::MultiWaitResult r =
      detail::wait_blocks(blocks.data(), blocks.size(), detail::WaitUntil::first_failure,
                          UINT64_MAX, detail::OnCancel::cancel_all);
  auto it = std::ranges::begin(tasks);
  if (r.trigger != SIZE_MAX && !detail::succeeded(blocks[r.trigger])) {
    std::ranges::advance(it, static_cast<std::ptrdiff_t>(r.trigger));
    it->get();  // rethrows
  }
  if constexpr (std::is_void_v<T>) {
    for (auto& task : tasks) task.get();
  } else {
    std::vector<T> values;
    values.reserve(blocks.size());
    for (auto& task : tasks) values.push_back(task.get());
    return values;
  }
}

// gather_all(tasks, weft::return_exceptions): waits for every task and reports each outcome;
// throws nothing but the gathering fiber's own CancelledError.
template <std::ranges::forward_range R>
requires detail::is_task_v<std::ranges::range_reference_t<R>>
    std::vector<Result<detail::ValueOfRange<R>>> gather_all(R&& tasks, ReturnExceptions) {
  std::vector<detail::TaskBlock*> blocks = detail::blocks_of(tasks);
  std::vector<Result<detail::ValueOfRange<R>>> results;
  results.reserve(blocks.size());
  if (!blocks.empty())
    (void)detail::wait_blocks(blocks.data(), blocks.size(), detail::WaitUntil::all_done, UINT64_MAX,
                              detail::OnCancel::cancel_all);
  for (auto& task : tasks) results.push_back(detail::take_result(task));
  return results;
}

namespace detail {

inline WaitUntil wait_until_of(ReturnWhen when) noexcept {
  switch (when) {
    case ReturnWhen::first_completed:
      return WaitUntil::first_done;
    case ReturnWhen::first_exception:
      return WaitUntil::first_error;
    case ReturnWhen::all_completed:
      break;
  }
  return WaitUntil::all_done;
}

template <class R>
std::vector<TaskBlock*> blocks_to_wait(R& tasks) {
  std::vector<TaskBlock*> blocks = blocks_of(tasks);
  if (blocks.empty())
    throw std::invalid_argument(
        "weft::wait: the set of tasks is empty (asyncio raises "
        "ValueError too); pass at least one task");
  return blocks;
}

}  // namespace detail

// asyncio.wait: parks until `when` holds or `timeout` passes, and splits the tasks into done and
// pending. Never cancels anything. An empty set: std::invalid_argument.
template <std::ranges::forward_range R, class Rep = std::int64_t, class Period = std::nano>
requires detail::is_task_v<std::ranges::range_reference_t<R>> &&
    std::is_lvalue_reference_v<std::ranges::range_reference_t<R>>
auto wait(R& tasks, ReturnWhen when = AllCompleted,
          std::chrono::duration<Rep, Period> timeout = std::chrono::duration<Rep, Period>::max()) {
  using TaskT = detail::TaskOfRange<R>;
  std::vector<detail::TaskBlock*> blocks = detail::blocks_to_wait(tasks);
  (void)detail::wait_blocks(blocks.data(), blocks.size(), detail::wait_until_of(when),
                            detail::deadline_ns_after(timeout), detail::OnCancel::leave_running);
  WaitResult<TaskT*> result;
  for (auto& task : tasks) (task.done() ? result.done : result.pending).push_back(&task);
  return result;
}
template <class T, class Rep = std::int64_t, class Period = std::nano>
WaitResult<Task<T>> wait(
    std::vector<Task<T>>&& tasks, ReturnWhen when = AllCompleted,
    std::chrono::duration<Rep, Period> timeout = std::chrono::duration<Rep, Period>::max()) {
  std::vector<detail::TaskBlock*> blocks = detail::blocks_to_wait(tasks);
  (void)detail::wait_blocks(blocks.data(), blocks.size(), detail::wait_until_of(when),
                            detail::deadline_ns_after(timeout), detail::OnCancel::leave_running);
  WaitResult<Task<T>> result;
  for (auto& task : tasks) (task.done() ? result.done : result.pending).push_back(std::move(task));
  return result;
}

// asyncio.as_completed: `for (auto& t : weft::as_completed(tasks, 5s)) use(t.get());` yields
// the tasks (references into `tasks`, or into the vector it was given by value) in the order
// they finish. Advancing throws TimeoutError once `timeout` (counted from the call) has passed
// with tasks unfinished. Leaving the loop early cancels nothing.
template <class Tasks>
class AsCompleted {
 public:
  using TaskT = detail::TaskOfRange<Tasks>;

  AsCompleted(Tasks tasks, std::uint64_t deadline_ns)
      : tasks_(std::forward<Tasks>(tasks)), deadline_ns_(deadline_ns) {
    for (auto& task : tasks_) index_.push_back(&task);
    std::vector<detail::TaskBlock*> blocks = detail::blocks_of(tasks_);
    order_ = detail::watch_completion(blocks.data(), blocks.size());
  }
  ~AsCompleted() { detail::unwatch_completion(order_); }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;

  using iterator = detail::PullIterator<AsCompleted, TaskT>;

  // Parks until the first task is done.
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }

 private:
  friend iterator;
  TaskT* pull() {
    if (handed_out_ == index_.size()) return nullptr;
    const std::size_t i = detail::next_completed(order_, deadline_ns_);
    ++handed_out_;
    return index_[i];
  }
  Tasks tasks_;  // a reference, or the vector itself when given by value
  std::vector<TaskT*> index_;
  std::uint64_t deadline_ns_;
  std::size_t handed_out_ = 0;
  detail::CompletionOrder* order_ = nullptr;
};

template <std::ranges::forward_range R>
requires detail::is_task_v<std::ranges::range_reference_t<R>> AsCompleted<R> as_completed(
    R&& tasks) {
  return AsCompleted<R>(std::forward<R>(tasks), UINT64_MAX);
}
template <std::ranges::forward_range R, class Rep, class Period>
requires detail::is_task_v<std::ranges::range_reference_t<R>> AsCompleted<R> as_completed(
    R&& tasks, std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<R>(std::forward<R>(tasks), detail::deadline_ns_after(timeout));
}

// asyncio.wait_for: awaits the task for at most `timeout`. On expiry the task is cancelled and
// waited for, then TimeoutError is thrown (unless the task finished anyway: then its outcome
// stands). A task done already costs nothing extra: no timer, no system call.
template <class Rep, class Period, class T>
T wait_for(std::chrono::duration<Rep, Period> timeout, Task<T>& task) {
  if (task.done()) return task.get();
  return weft::timeout(timeout, [&]() -> T { return task.get(); });
}
template <class Rep, class Period, class T>
T wait_for(std::chrono::duration<Rep, Period> timeout, Task<T>&& task) {
  return wait_for(timeout, task);
}

// asyncio.shield: awaits the task, but cancelling the awaiting fiber (or its Timeout) does not
// cancel the task: the awaiter gets CancelledError and the task runs on (by reference the
// caller still holds it; moved in, it is detached).
template <class T>
T shield(Task<T>& task) {
  task.wait();
  return task.get();
}
template <class T>
T shield(Task<T>&& task) {
  return shield(task);
}

}  // namespace weft

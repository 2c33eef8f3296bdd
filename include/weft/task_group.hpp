#pragma once
// asyncio.TaskGroup: structured concurrency. Children spawned into a group are joined together;
// the first child that fails cancels the others, and join() throws an ExceptionGroup with every
// error that is not a cancellation.
//
// Unlike asyncio, a child's failure does not cancel the fiber that owns the group (C++ has no
// `async with` block to stop and resume); it cancels the siblings, and join() reports.
#include <cstddef>
#include <string_view>
#include <utility>

#include "weft/detail/task_block.hpp"
#include "weft/export.hpp"
#include "weft/task.hpp"

namespace weft {

namespace detail {
[[nodiscard]] WEFT_API GroupCore* make_group();
WEFT_API void join_group(GroupCore* group);
WEFT_API void destroy_group(GroupCore* group) noexcept;
[[nodiscard]] WEFT_API std::size_t group_pending(GroupCore* group) noexcept;
}  // namespace detail

class TaskGroup {
 public:
  TaskGroup() : core_(detail::make_group()) {}
  // Without join() (say, while an exception unwinds the owner): cancels the children still
  // running, waits for them, and throws nothing. No child outlives its group.
  ~TaskGroup() { detail::destroy_group(core_); }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // asyncio's TaskGroup.create_task, on the calling fiber's runtime. InvalidStateError once the
  // group has been joined or is shutting down after a failure.
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(F&& fn) {
    return spawn(TaskOptions{}, std::forward<F>(fn));
  }
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(std::string_view name, F&& fn) {
    return spawn(TaskOptions{.name = name}, std::forward<F>(fn));
  }
  template <class F>
  Task<detail::TaskResultOf<F>> spawn(TaskOptions options, F&& fn) {
    return detail::spawn_on(nullptr, std::forward<F>(fn), detail::spawn_options(options, core_));
  }

  // Waits for every child (children may spawn more into the group meanwhile). Throws
  // ExceptionGroup if any child failed with something other than CancelledError. If the
  // joining fiber is cancelled, the children are cancelled and waited for, then CancelledError
  // (or the ExceptionGroup, if some child had failed) is thrown. Once.
  void join() { detail::join_group(core_); }

  // Children not finished yet.
  [[nodiscard]] std::size_t size() const noexcept { return detail::group_pending(core_); }

 private:
  detail::GroupCore* core_;
};

}  // namespace weft

#pragma once
// What a Process owns: the watch on its child (shared with the watcher, which outlives the
// Process if the child does) and this side of its pipes (only the Process's: dropping it closes
// them, so a child reading its stdin sees EOF).
#include <memory>
#include <optional>

#include <weft/net.hpp>

#include "io/child_watch.hpp"

namespace weft::detail {

struct ProcessState {
  std::shared_ptr<io::ChildWatch> child;
  std::optional<StreamWriter> stdin_pipe;
  std::optional<StreamReader> stdout_pipe;
  std::optional<StreamReader> stderr_pipe;
};

}  // namespace weft::detail

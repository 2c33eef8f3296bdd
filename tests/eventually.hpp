#pragma once
// Polling for a condition that another thread or fiber makes true, with a time limit.
#include <chrono>
#include <thread>

#include <weft/task.hpp>
#include <weft/time.hpp>

namespace weft_test {

// Polls pred every `step` until it holds (true) or `timeout` passes (false). On a weft fiber
// the fiber sleeps between polls, so its worker runs other tasks; elsewhere the thread does.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::chrono::milliseconds step = std::chrono::milliseconds(1)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return pred();
    if (weft::in_fiber())
      weft::sleep(step);
    else
      std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace weft_test

#pragma once
// The one accessor to "which worker is this thread" (DESIGN.md rule 2). It is not inlined, so
// the compiler cannot keep a value read before a suspension point: a fiber may resume on
// another worker, and must ask again after every suspension.
namespace weft::sched {

class Worker;

[[nodiscard]] Worker* current_worker() noexcept;
// The current worker if the caller runs on one of its fibers; else std::logic_error saying that
// `what` needs a weft fiber (DESIGN.md: fiber-only calls outside a fiber throw, never crash).
[[nodiscard]] Worker& fiber_worker(const char* what);
void set_current_worker(Worker* worker) noexcept;

}  // namespace weft::sched

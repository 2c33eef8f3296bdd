#pragma once
// The one accessor to "which worker is this thread" (DESIGN.md rule 2). The compiler must not
// keep a value read before a suspension point: a fiber may resume on another worker, and must
// ask again after every suspension. GCC assumes the thread pointer never changes inside a
// function, so a plain thread_local read could be reused (or its address kept in a register)
// across a switch. On x86-64 each call is one volatile asm read of the slot through the
// initial-exec TLS model (two instructions, which the compiler can neither merge nor move);
// elsewhere (and on x32 or non-ELF targets) it is a call into a function the compiler cannot
// see through. (A libweft.so loaded with dlopen takes these 8 bytes from glibc's static TLS
// reserve.)
namespace weft::sched {

class Worker;

#if defined(__x86_64__) && defined(__LP64__) && defined(__ELF__)
// The slot, under a fixed assembler name so the read below can address it. Defined in
// current.cpp; C++ code goes through current_worker() / set_current_worker() only.
extern thread_local Worker* current_worker_slot asm("weft_sched_current_worker_slot");

[[nodiscard]] inline Worker* current_worker() noexcept {
  Worker* worker;
  // "memory": ordered with the switch code around it like a call would be.
  asm volatile(
      "movq weft_sched_current_worker_slot@gottpoff(%%rip), %0\n\t"
      "movq %%fs:(%0), %0"
      : "=r"(worker)
      :
      : "memory");
  return worker;
}
#else
[[nodiscard]] Worker* current_worker() noexcept;
#endif

void set_current_worker(Worker* worker) noexcept;

// Throws the std::logic_error that says `what` needs a weft fiber.
[[noreturn]] void throw_not_in_fiber(const char* what);

}  // namespace weft::sched

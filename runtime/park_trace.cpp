// Debug mode's record of where each task parked, for Runtime::dump_tasks(). A parked fiber's
// stack cannot be walked from another thread (it may be resumed elsewhere at any moment), so
// the task records its own return addresses as it parks (~2 µs: debug mode only) and the dump
// symbolizes them. Symbols come from libbacktrace (GCC's, which reads the executable's symbol
// table and DWARF, so functions of the program itself get names and lines); without it, from
// the dynamic symbol table only.
#include <cxxabi.h>
#include <execinfo.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sched/task_block.hpp"

#if defined(WEFT_HAVE_LIBBACKTRACE)
#include <backtrace.h>
#else
#include <dlfcn.h>
#endif

namespace weft::detail {
namespace {

constexpr int kMaxFrames = 32;
constexpr int kOwnFrames = 2;  // record_park_trace and sched::park

std::string demangled(const char* name) {
  if (!name) return "??";
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> text(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && text ? std::string(text.get()) : std::string(name);
}

#if defined(WEFT_HAVE_LIBBACKTRACE)

// One per process: libbacktrace caches the parsed debug information in it and never frees it.
backtrace_state* symbolizer() {
  static backtrace_state* const state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}

struct FrameLines {
  std::string_view indent;
  std::string text{};
  bool found = false;
};

// libbacktrace calls this once per function at the address, inlined ones first.
int on_source(void* data, std::uintptr_t, const char* file, int line, const char* function) {
  auto& out = *static_cast<FrameLines*>(data);
  if (!function) return 0;
  out.found = true;
  out.text += std::string(out.indent) + "at " + demangled(function);
  if (file) out.text += " (" + std::string(file) + ":" + std::to_string(line) + ")";
  out.text += "\n";
  return 0;
}

void on_symbol(void* data, std::uintptr_t pc, const char* symbol, std::uintptr_t, std::uintptr_t) {
  auto& out = *static_cast<FrameLines*>(data);
  out.text += std::string(out.indent) + "at ";
  if (symbol) {
    out.text += demangled(symbol);
  } else {
    char address[32];
    std::snprintf(address, sizeof address, "%#lx", static_cast<unsigned long>(pc));
    out.text += address;
  }
  out.text += "\n";
}

std::string symbolize(const std::vector<void*>& frames, std::string_view indent) {
  static std::mutex lock;  // libbacktrace's threaded mode is safe, the error path less so
  std::lock_guard guard(lock);
  backtrace_state* state = symbolizer();
  std::string text;
  for (void* frame : frames) {
    // A return address points after the call: look up the call itself.
    const auto pc = reinterpret_cast<std::uintptr_t>(frame) - 1;
    FrameLines lines{.indent = indent};
    if (state)
      backtrace_pcinfo(
          state, pc, on_source, [](void*, const char*, int) {}, &lines);
    if (!lines.found) {
      lines.text.clear();
      if (state)
        backtrace_syminfo(
            state, pc, on_symbol, [](void*, const char*, int) {}, &lines);
      if (lines.text.empty()) lines.text = std::string(indent) + "at ??\n";
    }
    text += lines.text;
  }
  return text;
}

#else

std::string symbolize(const std::vector<void*>& frames, std::string_view indent) {
  std::string text;
  for (void* frame : frames) {
    Dl_info info{};
    text += std::string(indent) + "at ";
    if (dladdr(static_cast<char*>(frame) - 1, &info) != 0 && info.dli_sname) {
      text += demangled(info.dli_sname);
    } else {
      char address[32];
      std::snprintf(address, sizeof address, "%p", frame);
      text += address;
      if (info.dli_fname) text += std::string(" in ") + info.dli_fname;
    }
    text += "\n";
  }
  return text;
}

#endif

}  // namespace

void record_park_trace(TaskBlock* task) noexcept {
  std::array<void*, kMaxFrames> frames{};
  const int depth = ::backtrace(frames.data(), kMaxFrames);
  const int first = std::min(depth, kOwnFrames);
  try {
    std::lock_guard guard(task->done_waiters.lock());
    task->extras_locked().park_trace.assign(frames.begin() + first, frames.begin() + depth);
  } catch (...) {
    // Out of memory: this task's dump entry goes without its trace.
  }
}

std::string park_trace_text(TaskBlock* task, std::string_view indent) {
  std::vector<void*> frames;
  {
    std::lock_guard guard(task->done_waiters.lock());
    if (task->extras) frames = task->extras->park_trace;
  }
  return frames.empty() ? std::string() : symbolize(frames, indent);
}

}  // namespace weft::detail

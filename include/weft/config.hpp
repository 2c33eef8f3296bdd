#pragma once
// Runtime configuration: a plain struct with defaults, loadable from WEFT_* environment
// variables or a TOML file. Every value is validated where it enters (ConfigError names the
// key and the offending value).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "weft/errors.hpp"
#include "weft/export.hpp"

namespace weft {

enum class Backend { epoll, io_uring };

struct WEFT_API Config {
  // Worker threads, each with its own run queue and reactor. 0 is invalid; the default is the
  // machine's hardware concurrency.
  unsigned workers = default_workers();
  // Bytes of address space per fiber stack (rounded up to whole pages). Only touched pages
  // cost memory.
  std::size_t stack_size = 128 * 1024;
  // On kernels without guard markers (before Linux 6.13), the stacks that get an mprotect'ed
  // guard page. Each costs two memory maps of the kernel's vm.max_map_count (65,530 by
  // default); stacks beyond this budget go unguarded and are checked with a canary at every
  // switch instead. With guard markers every stack is guarded at no map cost.
  std::size_t guarded_stacks = 16384;
  // Guard stacks with guard markers where the kernel has them (madvise MADV_GUARD_INSTALL,
  // Linux 6.13+); false: mprotect'ed pages within guarded_stacks, canaries beyond.
  bool guard_markers = true;
  // Idle fibers (each with its stack) a runtime keeps for reuse, in total. A fresh stack costs
  // a map and page faults (~6 µs each on a VM); a reused one costs nothing. A cached fiber
  // holds the pages its last task touched (usually one or two).
  std::size_t stack_cache = 16384;
  // Slots of each worker's local run queue (a power of two, at least 2).
  std::size_t local_queue_size = 256;
  // Every this many scheduling ticks a worker looks at the global injection queue first, so
  // work submitted from outside never starves behind local work.
  unsigned global_queue_interval = 61;
  // Steal rounds over random victims an idle worker makes before it parks.
  unsigned steal_attempts = 2;
  Backend backend = Backend::epoll;
  // Most threads the blocking pool (to_thread) starts; an idle one retires after
  // blocking_keep_alive_ms. Beyond blocking_queue_limit queued jobs, to_thread parks its caller.
  unsigned blocking_threads = 512;
  unsigned blocking_keep_alive_ms = 10'000;
  std::size_t blocking_queue_limit = 65'536;
  // Slots of the oneTBB arena behind run_cpu; 0 means as many as workers.
  unsigned cpu_threads = 0;
  bool pin_workers = false;
  bool debug = false;
  // Debug mode warns about a fiber that runs longer than this without suspending.
  unsigned slow_callback_ms = 100;

  // Throws ConfigError naming the first bad field and its value.
  void validate() const;

  // Starts from the defaults, applies every WEFT_<FIELD> variable that is set, validates.
  [[nodiscard]] static Config from_env();
  // Starts from the defaults, applies the TOML file's top-level keys, validates.
  [[nodiscard]] static Config from_file(const std::string& path);
  // The same as from_file, for TOML text already in memory (name is used in messages).
  [[nodiscard]] static Config from_toml(std::string_view text, std::string_view name = "<string>");

  static unsigned default_workers() noexcept;
};

[[nodiscard]] WEFT_API std::string_view to_string(Backend backend) noexcept;

}  // namespace weft

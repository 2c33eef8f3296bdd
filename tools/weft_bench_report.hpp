#pragma once
// The result line every peer of the suite prints, field for field:
//   name=<bench> peer=weft threads=<n> seconds=<wall> ops=<count> ns_per_op=<x> iter=<i>
//   [extra k=v ...] check=ok|FAIL
#include <cstdint>
#include <string_view>

#include "weft_bench_workloads.hpp"

namespace weft::bench {

// Prints one line on stdout and flushes it (run_all.sh reads stdout as the process goes).
void print_result(std::string_view name, std::uint64_t threads, std::uint64_t iter,
                  const Outcome& outcome);

}  // namespace weft::bench

#pragma once
// Helpers shared by the network suites.
#include <sys/resource.h>

#include <string>

#include <weft/weft.hpp>

namespace weft_test {

// An echo handler: every line comes back as it was, until EOF.
inline void echo_lines(weft::StreamReader& reader, weft::StreamWriter& writer) {
  for (;;) {
    std::string line = reader.readline();
    if (line.empty()) return;
    writer.write(line);
  }
}

// A payload that tells connection c's request r apart from every other one.
inline std::string payload(std::size_t c, std::size_t r, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t k = 0; k < size; ++k)
    bytes[k] = static_cast<char>('a' + (c * 7 + r * 13 + k) % 26);
  return bytes;
}

// Raises the soft fd limit to the hard one (tests with a thousand connections need it).
inline void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace weft_test

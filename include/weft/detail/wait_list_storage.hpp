#pragma once
// Room for a wait list (private: sync/wait_list.hpp) inside a public object, so a Lock or a
// Queue holds its waiters inline, without an allocation and without showing the engine's types.
#include <cstddef>

namespace weft::detail {

struct alignas(void*) WaitListStorage {
  unsigned char bytes[3 * sizeof(void*)];
};

}  // namespace weft::detail

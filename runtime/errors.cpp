#include <weft/errors.hpp>

namespace weft {

ExceptionGroup::ExceptionGroup(const std::string& message,
                               std::vector<std::exception_ptr> exceptions)
    : std::runtime_error(message + " (" + std::to_string(exceptions.size()) +
                         (exceptions.size() == 1 ? " sub-exception)" : " sub-exceptions)")),
      exceptions_(std::move(exceptions)) {}

}  // namespace weft

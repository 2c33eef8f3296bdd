#include <weft/errors.hpp>

#include <cerrno>

namespace weft {

ExceptionGroup::ExceptionGroup(const std::string& message,
                               std::vector<std::exception_ptr> exceptions)
    : std::runtime_error(message + " (" + std::to_string(exceptions.size()) +
                         (exceptions.size() == 1 ? " sub-exception)" : " sub-exceptions)")),
      exceptions_(std::move(exceptions)) {}

}  // namespace weft

namespace weft {

void throw_os_error(int error, const std::string& what) {
  // std::system_error appends ": " and the errno text itself (TimeoutError does not).
  switch (error) {
    case ECONNREFUSED:
      throw ConnectionRefusedError(error, what);
    case ECONNRESET:
      throw ConnectionResetError(error, what);
    case ECONNABORTED:
      throw ConnectionAbortedError(error, what);
    case EPIPE:
      throw BrokenPipeError(error, what);
    case ENOENT:
      throw FileNotFoundError(error, what);
    case EACCES:
    case EPERM:
      throw PermissionError(error, what);
    case ESRCH:
      throw ProcessLookupError(error, what);
    case ETIMEDOUT:
      throw TimeoutError(what + ": " + std::generic_category().message(error));
    default:
      throw OSError(error, what);
  }
}

}  // namespace weft

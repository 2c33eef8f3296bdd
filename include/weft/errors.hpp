#pragma once
// The exception types weft throws, named after their asyncio counterparts.
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "weft/export.hpp"

namespace weft {

// Raised at a task's suspension point after Task::cancel(). Deliberately not derived from
// std::exception's usual subclasses so `catch (const std::runtime_error&)` does not swallow it
// (asyncio made CancelledError a BaseException for the same reason).
class WEFT_API CancelledError : public std::exception {
 public:
  explicit CancelledError(std::string message = {}) : message_(std::move(message)) {}
  const char* what() const noexcept override {
    return message_.empty() ? "weft::CancelledError" : message_.c_str();
  }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

class WEFT_API TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  TimeoutError() : std::runtime_error("weft::TimeoutError: deadline expired") {}
};

class WEFT_API InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class WEFT_API ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class WEFT_API LimitOverrunError : public std::runtime_error {
 public:
  LimitOverrunError(const std::string& what, std::size_t consumed)
      : std::runtime_error(what), consumed_(consumed) {}
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

class WEFT_API IncompleteReadError : public std::runtime_error {
 public:
  // expected == std::string::npos: the read wanted a separator, not a count.
  IncompleteReadError(std::string partial, std::size_t expected)
      : std::runtime_error(
            "weft::IncompleteReadError: " + std::to_string(partial.size()) +
            (expected == std::string::npos
                 ? std::string(" bytes read before end of stream, separator not found")
                 : " bytes read of " + std::to_string(expected) + " expected")),
        partial_(std::move(partial)),
        expected_(expected) {}
  const std::string& partial() const noexcept { return partial_; }
  std::size_t expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::size_t expected_;
};

class WEFT_API QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("weft::QueueEmpty") {}
};
class WEFT_API QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("weft::QueueFull") {}
};
class WEFT_API QueueShutDown : public std::runtime_error {
 public:
  QueueShutDown() : std::runtime_error("weft::QueueShutDown") {}
};
class WEFT_API BrokenBarrierError : public std::runtime_error {
 public:
  BrokenBarrierError() : std::runtime_error("weft::BrokenBarrierError") {}
};

// An operating-system failure on a socket, pipe or file (Python's OSError): the errno, plus a
// message naming the operation and the address, path or fd involved.
class WEFT_API OSError : public std::system_error {
 public:
  OSError(int error, const std::string& what)
      : std::system_error(error, std::generic_category(), what) {}
};
class WEFT_API ConnectionError : public OSError {
 public:
  using OSError::OSError;
};
class WEFT_API ConnectionRefusedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API ConnectionResetError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API ConnectionAbortedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
class WEFT_API BrokenPipeError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

// A file or directory that does not exist (ENOENT), e.g. a subprocess's executable.
class WEFT_API FileNotFoundError : public OSError {
 public:
  using OSError::OSError;
};
// EACCES or EPERM, e.g. running a file that is not executable.
class WEFT_API PermissionError : public OSError {
 public:
  using OSError::OSError;
};
// ESRCH: no such process.
class WEFT_API ProcessLookupError : public OSError {
 public:
  using OSError::OSError;
};

// Throws the OSError subclass that matches `error` (ECONNREFUSED -> ConnectionRefusedError,
// ...), with `what` as the message.
[[noreturn]] WEFT_API void throw_os_error(int error, const std::string& what);

// Several failures at once (TaskGroup::join). exceptions() lists every non-cancellation error.
class WEFT_API ExceptionGroup : public std::runtime_error {
 public:
  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions);
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

 private:
  std::vector<std::exception_ptr> exceptions_;
};

}  // namespace weft

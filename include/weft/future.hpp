#pragma once
// Promise<T> / Future<T>: a one-shot value handed between fibers on any worker or plain threads.
// Future::get() parks a fiber and blocks a plain thread.
#include <exception>
#include <type_traits>
#include <utility>

#include "weft/detail/task_block.hpp"
#include "weft/errors.hpp"

namespace weft {

template <class T>
class Promise;

template <class T>
class Future {
 public:
  Future() = default;
  Future(Future&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  Future& operator=(Future&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;
  ~Future() { reset(); }

  [[nodiscard]] bool valid() const noexcept { return block_ != nullptr; }
  [[nodiscard]] bool ready() const noexcept { return block_ && detail::is_done(block_); }
  // Parks until the promise is satisfied (or abandoned: then InvalidStateError "broken
  // promise"), returns the value or rethrows the stored exception. Once.
  T get() {
    detail::await_done(checked());
    detail::claim_result(block_);
    if constexpr (!std::is_void_v<T>) return std::move(typed()->value());
  }
  void wait() const { detail::await_done(checked()); }

 private:
  friend class Promise<T>;
  explicit Future(detail::TaskBlock* block) noexcept : block_(block) {}
  detail::TaskBlock* checked() const {
    if (!block_) throw InvalidStateError("weft::Future: no shared state");
    return block_;
  }
  detail::TypedBody<T>* typed() const {
    return static_cast<detail::TypedBody<T>*>(detail::body_of(block_));
  }
  void reset() noexcept {
    if (block_) detail::release(std::exchange(block_, nullptr));
  }
  detail::TaskBlock* block_ = nullptr;
};

template <class T>
class Promise {
 public:
  Promise() : block_(detail::make_block<detail::PromiseBody<T>>(detail::BlockKind::promise)) {}
  Promise(Promise&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)),
        future_taken_(std::exchange(other.future_taken_, false)) {}
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      abandon();
      block_ = std::exchange(other.block_, nullptr);
      future_taken_ = std::exchange(other.future_taken_, false);
    }
    return *this;
  }
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  // A promise dropped unsatisfied breaks its future (InvalidStateError at get()).
  ~Promise() { abandon(); }

  // Once: a second call throws InvalidStateError.
  [[nodiscard]] Future<T> get_future() {
    if (!block_ || future_taken_) throw InvalidStateError("weft::Promise: future already taken");
    future_taken_ = true;
    detail::retain(block_);
    return Future<T>(block_);
  }
  // Satisfying a promise wakes its waiter, which may destroy this Promise (a waiter that owns
  // the promise it awaits is a common shape); so the shared state is kept alive by its own
  // reference until the setter is done with it.
  template <class... A>
  void set_value(A&&... value) {
    detail::TaskBlock* block = checked();
    detail::begin_set(block);
    const Pin pin(block);
    auto* body = static_cast<detail::TypedBody<T>*>(detail::body_of(block));
    if constexpr (std::is_void_v<T>) {
      static_assert(sizeof...(A) == 0, "Promise<void>::set_value takes no value");
      body->emplace();
    } else {
      try {
        body->emplace(std::forward<A>(value)...);
      } catch (...) {
        detail::complete_exception(block, std::current_exception());
        throw;
      }
    }
    detail::complete_value(block);
  }
  void set_exception(std::exception_ptr error) {
    detail::TaskBlock* block = checked();
    detail::begin_set(block);
    const Pin pin(block);
    detail::complete_exception(block, std::move(error));
  }

 private:
  struct Pin {
    explicit Pin(detail::TaskBlock* b) noexcept : block(b) { detail::retain(block); }
    ~Pin() { detail::release(block); }
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    detail::TaskBlock* block;
  };
  detail::TaskBlock* checked() const {
    if (!block_) throw InvalidStateError("weft::Promise: no shared state");
    return block_;
  }
  void abandon() noexcept {
    if (!block_) return;
    if (!detail::is_done(block_)) {
      try {
        detail::begin_set(block_);
        detail::complete_exception(
            block_, std::make_exception_ptr(InvalidStateError("weft::Future: broken promise")));
      } catch (const InvalidStateError&) {
        // Another thread is completing it right now; nothing to break.
      }
    }
    detail::release(std::exchange(block_, nullptr));
  }
  detail::TaskBlock* block_;
  bool future_taken_ = false;
};

}  // namespace weft

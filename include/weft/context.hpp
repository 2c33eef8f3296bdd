#pragma once
// Context variables (Python's contextvars) and fiber-local storage.
//
// ContextVar<T>: every task has a context, a set of values keyed by variable. A spawned task
// starts with a copy of its spawner's context (asyncio semantics: later set() calls on either
// side are not seen by the other); spawn({.fresh_context = true}, fn) starts it empty instead.
// Jobs (to_thread, run_cpu) get a copy of the submitter's context too, as asyncio.to_thread
// does. A plain thread has a context of its own, which Runtime::spawn from that thread copies.
//
// FiberLocal<T>: one value per task, default-constructed on first use, destroyed when the
// task's body returns; never inherited. On a plain thread it is per thread.
//
// Both live in the task, not in the worker thread: a task that moves to another worker keeps
// its values.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "weft/export.hpp"

namespace weft {

namespace detail {
// The calling task's (or thread's) context. A null value means "not set".
[[nodiscard]] WEFT_API std::shared_ptr<const void> context_get(std::uint64_t key) noexcept;
// Sets (or, with nullptr, removes) the value and returns the previous one.
WEFT_API std::shared_ptr<const void> context_set(std::uint64_t key,
                                                 std::shared_ptr<const void> value);
// Identifies the calling task's (or thread's) context, for Token checks (never reused).
[[nodiscard]] WEFT_API std::uint64_t context_owner() noexcept;
[[nodiscard]] WEFT_API std::uint64_t new_local_key() noexcept;

// Fiber-local slots: the calling task's (or thread's) value for key, or nullptr.
[[nodiscard]] WEFT_API void* fiber_local_find(std::uint64_t key) noexcept;
// Stores a new value (the store frees it with destroy when the task ends) and returns it.
WEFT_API void* fiber_local_store(std::uint64_t key, void* value, void (*destroy)(void*));
}  // namespace detail

template <class T>
class ContextVar {
 public:
  // What set() returns: reset(token) puts back the value the variable had before that set().
  class Token {
   public:
    Token(Token&&) noexcept = default;
    Token& operator=(Token&&) noexcept = default;
    // Whether the variable had a value before the set() that made this token.
    [[nodiscard]] bool had_value() const noexcept { return old_ != nullptr; }

   private:
    friend class ContextVar;
    Token(std::uint64_t var, std::shared_ptr<const void> old, std::uint64_t owner)
        : var_(var), old_(std::move(old)), owner_(owner) {}
    std::uint64_t var_;  // the variable's key (keys are never reused, addresses may be)
    std::shared_ptr<const void> old_;
    std::uint64_t owner_;
    bool used_ = false;
  };

  explicit ContextVar(std::string name) : name_(std::move(name)) {}
  ContextVar(std::string name, T default_value)
      : name_(std::move(name)), default_(std::make_shared<const T>(std::move(default_value))) {}
  ContextVar(const ContextVar&) = delete;
  ContextVar& operator=(const ContextVar&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  // The value in the current context, else the default; with neither, std::out_of_range
  // naming the variable (Python's LookupError).
  [[nodiscard]] T get() const {
    if (auto value = detail::context_get(key_)) return *static_cast<const T*>(value.get());
    if (default_) return *default_;
    throw std::out_of_range("weft::ContextVar '" + name_ + "' has no value in this context");
  }
  // The value in the current context, else `fallback` (Python's var.get(default)).
  [[nodiscard]] T get(T fallback) const {
    if (auto value = detail::context_get(key_)) return *static_cast<const T*>(value.get());
    return fallback;
  }

  // Sets the value in the current context only.
  Token set(T value) {
    std::shared_ptr<const void> old =
        detail::context_set(key_, std::make_shared<const T>(std::move(value)));
    return Token(key_, std::move(old), detail::context_owner());
  }

  // Puts back the value from before token's set(). std::invalid_argument if the token belongs
  // to another variable or was made in another context; InvalidStateError-like
  // std::logic_error if it was used already (Python's ValueError / RuntimeError).
  void reset(Token& token) {
    if (token.var_ != key_)
      throw std::invalid_argument("weft::ContextVar '" + name_ +
                                  "': reset with a token of another variable");
    if (token.owner_ != detail::context_owner())
      throw std::invalid_argument("weft::ContextVar '" + name_ +
                                  "': reset with a token made in another context");
    if (token.used_)
      throw std::logic_error("weft::ContextVar '" + name_ + "': the token was used already");
    token.used_ = true;
    (void)detail::context_set(key_, std::move(token.old_));
  }
  void reset(Token&& token) { reset(token); }

 private:
  std::string name_;
  std::shared_ptr<const T> default_;
  const std::uint64_t key_ = detail::new_local_key();
};

template <class T>
class FiberLocal {
 public:
  FiberLocal() = default;
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  // The calling task's value (default-constructed on its first use there).
  [[nodiscard]] T& get() {
    if (void* value = detail::fiber_local_find(key_)) return *static_cast<T*>(value);
    auto fresh = std::make_unique<T>();
    void* stored = detail::fiber_local_store(
        key_, fresh.get(), [](void* p) { std::default_delete<T>{}(static_cast<T*>(p)); });
    (void)fresh.release();  // the store owns it now
    return *static_cast<T*>(stored);
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  const std::uint64_t key_ = detail::new_local_key();
};

}  // namespace weft

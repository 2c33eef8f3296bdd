#pragma once
// Generator<T>: a fiber-backed generator, weft's async generator / async iterator. The body runs
// on a fiber of its own and may sleep, read a socket or await tasks between items; the consumer
// reads it with range-for:
//
//   weft::Generator<int> ticks([](weft::Yield<int>& yield) {
//     for (int i = 0; i < 3; ++i) { weft::sleep(10ms); yield(i); }
//   });
//   for (int t : ticks) use(t);
//
// The body starts at the first item asked for and runs only while the consumer waits for the
// next one (a strict hand-off, like Python's generators: it never runs ahead). An exception
// from the body reaches the consumer. Destroying the generator early (leaving the loop) cancels
// the body at its yield, so its cleanup runs (`finally`), and waits for it. Cancelling the
// consumer while it waits for an item cancels the body too. A body that catches that
// CancelledError and yields again gets another one at that yield (Python raises RuntimeError
// there: "async generator ignored GeneratorExit"), so closing does not wait forever for a
// consumer that is gone. (A body that swallows every cancellation never ends, like any task
// that does.) Fiber-only.
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "weft/detail/pull_iterator.hpp"
#include "weft/detail/task_block.hpp"
#include "weft/export.hpp"
#include "weft/task.hpp"

namespace weft {

namespace detail {
class GeneratorCore;  // private: runtime/generator.cpp
[[nodiscard]] WEFT_API GeneratorCore* make_generator_core();
WEFT_API void destroy_generator_core(GeneratorCore* core) noexcept;
// Consumer: asks for the next item and parks until the body yields one (true) or ends (false;
// its exception, if any, is rethrown).
WEFT_API bool generator_next(GeneratorCore* core, TaskBlock* body_task);
// Body: hands the item over and parks until the next one is asked for. CancelledError when the
// generator is closed.
WEFT_API void generator_yield(GeneratorCore* core);
// Closes the generator (close(), or its consumer's cancellation): cancels the body with
// `message` and waits for it to end. From then on every yield of the body throws
// CancelledError, so a body that catches the first one and yields again still ends instead of
// waiting forever for a consumer that is gone.
WEFT_API void generator_close(GeneratorCore* core, TaskBlock* body_task,
                              std::string_view message) noexcept;
// Body: it has ended (error: its exception, or nullptr).
WEFT_API void generator_finish(GeneratorCore* core, std::exception_ptr error) noexcept;
}  // namespace detail

template <class T>
class Generator;

// What the body calls to produce an item: `yield(value)`.
template <class T>
class Yield {
 public:
  template <class U = T>
  void operator()(U&& value) {
    slot_->emplace(std::forward<U>(value));
    detail::generator_yield(core_);
  }
  Yield(const Yield&) = delete;
  Yield& operator=(const Yield&) = delete;

 private:
  friend class Generator<T>;
  Yield(detail::GeneratorCore* core, std::optional<T>* slot) : core_(core), slot_(slot) {}
  detail::GeneratorCore* core_;
  std::optional<T>* slot_;
};

template <class T>
class Generator {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>,
                "weft::Generator<T> yields values: T must be an object type");

 public:
  using value_type = T;

  template <class F>
  requires std::is_invocable_v < F&, Yield<T>
  & > explicit Generator(F body) : state_(std::make_unique<State>(std::move(body))) {}
  Generator(Generator&&) noexcept = default;
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  // Closes the body (see close()).
  ~Generator() { close(); }

  // The next item, or nullopt once the body has ended; rethrows the body's exception.
  std::optional<T> next() {
    if (!state_ || state_->ended) return std::nullopt;
    if (!state_->task) state_->start();
    if (!detail::generator_next(state_->core, state_->task.block())) {
      state_->ended = true;
      return std::nullopt;
    }
    std::optional<T> item = std::move(state_->slot);
    state_->slot.reset();
    return item;
  }

  // Cancels a body that has not ended at its yield (its cleanup runs) and waits for it.
  void close() noexcept { close_state(state_.get()); }

  // The range-for iterator (move-only). Leaving the loop before the body has ended (break,
  // return, an exception) destroys it, and that closes the generator: the body's cleanup runs
  // right there, as DESIGN.md promises, not when the generator itself goes out of scope. (A
  // generator read piecewise with next() is not closed until close() or its destructor.) Only
  // the latest begin()'s iterator closes; a generator destroyed first lets go of it, so an
  // iterator that outlives its generator is harmless to destroy (not to use).
  class iterator;

 private:
  struct State;

 public:
  class iterator {
    static constexpr bool kNothrowMove = std::is_nothrow_move_constructible_v<T>;

   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(Generator* generator) : items_(generator), state_(generator->state_.get()) {
      attach();
    }
    iterator(iterator&& other) noexcept(kNothrowMove)
        : items_(std::move(other.items_)), state_(std::exchange(other.state_, nullptr)) {
      attach();
    }
    iterator& operator=(iterator&& other) noexcept(kNothrowMove) {
      if (this != &other) {
        // `it = g.begin()` over the same generator goes on reading it: no close then.
        if (state_ != other.state_) close_unfinished();
        detach();
        items_ = std::move(other.items_);
        state_ = std::exchange(other.state_, nullptr);
        attach();
      }
      return *this;
    }
    iterator(const iterator&) = delete;
    iterator& operator=(const iterator&) = delete;
    ~iterator() {
      close_unfinished();
      detach();
    }

    T& operator*() const { return *items_; }
    T* operator->() const { return std::addressof(*items_); }
    iterator& operator++() {
      ++items_;
      return *this;
    }
    void operator++(int) { ++items_; }
    friend bool operator==(const iterator& it, std::default_sentinel_t end) noexcept {
      return it.items_ == end;
    }

   private:
    friend struct State;
    // Becomes the generator's closing iterator (an older one no longer closes it).
    void attach() noexcept {
      if (!state_) return;
      if (state_->loop && state_->loop != this) state_->loop->state_ = nullptr;
      state_->loop = this;
    }
    void detach() noexcept {
      if (state_ && state_->loop == this) state_->loop = nullptr;
      state_ = nullptr;
    }
    void close_unfinished() noexcept {
      if (state_ && !(items_ == std::default_sentinel)) close_state(state_);
    }
    detail::PullIterator<Generator, T> items_;
    State* state_ = nullptr;  // while this iterator may close the generator
  };

  // Starts the body (at the first call) and parks until its first item.
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend detail::PullIterator<Generator, T>;
  std::optional<T> pull() { return next(); }
  static void close_state(State* state) noexcept {
    if (!state || !state->task || state->task.done()) return;
    detail::generator_close(state->core, state->task.block(), "weft::Generator closed");
  }
  struct BodyBase {
    virtual ~BodyBase() = default;
    virtual void run(Yield<T>& yield) = 0;
  };
  template <class F>
  struct Body final : BodyBase {
    explicit Body(F&& f) : fn(std::move(f)) {}
    void run(Yield<T>& yield) override { fn(yield); }
    F fn;
  };
  struct State {
    template <class F>
    explicit State(F body)
        : body(std::make_unique<Body<F>>(std::move(body))), core(detail::make_generator_core()) {}
    ~State() {
      if (loop) loop->state_ = nullptr;  // the iterator outlives the generator: let it go
      detail::destroy_generator_core(core);
    }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    void start() {
      task = spawn("weft::Generator", [this] {
        Yield<T> yield(core, &slot);
        try {
          body->run(yield);
        } catch (const CancelledError&) {
          detail::generator_finish(core, nullptr);
          throw;
        } catch (...) {
          detail::generator_finish(core, std::current_exception());
          return;
        }
        detail::generator_finish(core, nullptr);
      });
    }

    std::unique_ptr<BodyBase> body;
    detail::GeneratorCore* core;
    std::optional<T> slot;
    Task<void> task;
    bool ended = false;
    iterator* loop = nullptr;  // the iterator that closes the generator when left early
  };

  std::unique_ptr<State> state_;
};

}  // namespace weft

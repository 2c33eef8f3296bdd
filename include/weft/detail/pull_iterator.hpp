#pragma once
// The input iterator of range-for over something that produces items one at a time and may
// park to do so (Channel, Generator, as_completed). `source->pull()` returns the next item as
// something dereferenceable that is false when there is none: a pointer into the source
// (as_completed hands out the caller's tasks) or a std::optional kept in the iterator itself
// (Channel, Generator: several loops over one Channel never share the current item). The loop
// ends at std::default_sentinel.
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>

namespace weft::detail {

template <class Source, class T>
class PullIterator {
  using Current = decltype(std::declval<Source&>().pull());

 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;

  PullIterator() = default;
  // Pulls the first item (may park).
  explicit PullIterator(Source* source) : source_(source) { ++*this; }

  T& operator*() const { return *current_; }
  T* operator->() const { return std::addressof(*current_); }
  PullIterator& operator++() {
    current_ = source_->pull();
    if (!current_) source_ = nullptr;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const PullIterator& it, std::default_sentinel_t) noexcept {
    return it.source_ == nullptr;
  }

 private:
  Source* source_ = nullptr;
  mutable Current current_{};
};

}  // namespace weft::detail

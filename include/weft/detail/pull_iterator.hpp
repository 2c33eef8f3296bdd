#pragma once
// The input iterator of range-for over something that produces items one at a time and may
// park to do so (Channel, Generator, as_completed): `source->pull()` returns the next item's
// address, or nullptr once there is none; the loop ends at std::default_sentinel.
#include <cstddef>
#include <iterator>
#include <optional>

namespace weft::detail {

template <class Source, class T>
class PullIterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;

  PullIterator() = default;
  // Pulls the first item (may park).
  explicit PullIterator(Source* source) : source_(source) { ++*this; }

  T& operator*() const { return *current_; }
  T* operator->() const { return current_; }
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
  T* current_ = nullptr;
};

}  // namespace weft::detail

namespace weft::detail {

// The same for sources that hand out values (Channel, Generator): `source->pull()` returns a
// std::optional<T>, kept in the iterator itself, so several loops over one Channel (several
// consumers) never share the current item.
template <class Source, class T>
class ValueIterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;

  ValueIterator() = default;
  explicit ValueIterator(Source* source) : source_(source) { ++*this; }

  T& operator*() const { return *current_; }
  T* operator->() const { return &*current_; }
  ValueIterator& operator++() {
    current_ = source_->pull();
    if (!current_) source_ = nullptr;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const ValueIterator& it, std::default_sentinel_t) noexcept {
    return it.source_ == nullptr;
  }

 private:
  Source* source_ = nullptr;
  mutable std::optional<T> current_;
};

}  // namespace weft::detail

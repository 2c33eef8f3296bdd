#pragma once
// A growable byte queue for stream buffers: append at the end, consume from the front, no
// zero-filling of fresh space (std::string::resize would), compaction instead of reallocation
// when the consumed front leaves enough room.
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace weft::io {

class ByteBuffer {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return end_ - begin_; }
  [[nodiscard]] bool empty() const noexcept { return begin_ == end_; }
  [[nodiscard]] const char* data() const noexcept { return data_.get() + begin_; }
  [[nodiscard]] std::string_view view() const noexcept { return {data(), size()}; }

  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() noexcept { begin_ = end_ = 0; }

  // Room for at least n more bytes at the end; fill it, then commit() what was written.
  [[nodiscard]] char* prepare(std::size_t n) {
    if (capacity_ - end_ >= n) return data_.get() + end_;
    const std::size_t used = size();
    if (used + n <= capacity_ && begin_ >= used) {  // compact: cheap, the live part is small
      std::memmove(data_.get(), data(), used);
    } else {
      std::size_t capacity = capacity_ ? capacity_ * 2 : 4096;
      while (capacity < used + n) capacity *= 2;
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
      if (used) std::memcpy(bigger.get(), data(), used);
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = used;
    return data_.get() + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(std::string_view bytes) {
    std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  // Gives memory back once a burst is over (a buffer that grew for one large message).
  void shrink_if_idle(std::size_t keep) noexcept {
    if (empty() && capacity_ > keep) {
      data_.reset();
      capacity_ = begin_ = end_ = 0;
    }
  }
  void swap(ByteBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
    std::swap(begin_, other.begin_);
    std::swap(end_, other.end_);
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace weft::io

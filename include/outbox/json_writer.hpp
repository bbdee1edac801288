// Compact JSON text written byte for byte as nlohmann::json::dump() writes it: the one place that
// decides how a put's `data` looks once stored. Used by the checked serialization of a JSON value
// (every put) and by typed puts, which write their struct straight to text (outbox/typed.hpp)
// instead of building a JSON value first.
//
// Not a validator: what JSON cannot hold (a string that is not UTF-8, a number that is not finite)
// is written anyway and reported, so that the caller decides how to refuse it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace outbox::detail {

class JsonWriter {
 public:
  // Past `max_bytes` nothing more is kept (exceeded() turns true), so that an oversized value
  // costs at most the limit in memory.
  explicit JsonWriter(std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

  // Inline while the text fits the buffer: a put calls these a few dozen times, and an out-of-line
  // std::string::append per call was a fifth of a typed put's own time.
  void put(char c) {
    if (room_ == 0) return append_slow(&c, 1);
    out_[size_++] = c;
    --room_;
  }
  void append(const char* s, std::size_t n) {
    if (n > room_) return append_slow(s, n);
    std::char_traits<char>::copy(out_.data() + size_, s, n);  // unlike memcpy, takes a null `s` with n == 0
    size_ += n;
    room_ -= n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  // A JSON string with dump()'s escapes (\" \\ \b \f \n \r \t, \u00XX for the other control
  // characters), every other byte as is. False when `s` is not UTF-8 (written anyway).
  bool string(std::string_view s);
  // dump()'s shortest round-trip form. False when `x` is NaN or infinite (written as null, as
  // dump() does).
  bool number(double x);
  void integer(std::int64_t n);
  void integer(std::uint64_t n);
  void boolean(bool b) { b ? append("true", 4) : append("false", 5); }
  void null() { append("null", 4); }

  bool exceeded() const noexcept { return exceeded_; }
  std::size_t size() const noexcept { return size_; }
  // The text; the writer is empty afterwards.
  std::string take();

 private:
  void append_slow(const char* s, std::size_t n);  // grows the buffer, or notes the limit
  void escape(unsigned char c);                    // dump()'s escape of a byte string() cannot keep

  std::size_t max_bytes_;
  std::string out_;  // the buffer: the text is its first size_ bytes
  std::size_t size_ = 0;
  std::size_t room_ = 0;  // bytes left in the buffer (never larger than the limit); 0 once past the limit
  bool exceeded_ = false;
};

}  // namespace outbox::detail

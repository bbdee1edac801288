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

  void put(char c) { append(&c, 1); }
  void append(const char* s, std::size_t n) {
    if (exceeded_) return;
    if (n > max_bytes_ - out_.size()) {
      exceeded_ = true;
      return;
    }
    out_.append(s, n);
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

  // Moves `count` object members, written one after the other without commas at starts[i] ..
  // starts[i + 1] (an empty range: a member left out), into the order `order` gives (indices into
  // starts), with commas between them. How a typed struct gets its members into name order.
  void reorder_members(const std::size_t* starts, const std::uint8_t* order, std::size_t count);

  bool exceeded() const noexcept { return exceeded_; }
  std::size_t size() const noexcept { return out_.size(); }
  std::string take() { return std::move(out_); }

 private:
  std::size_t max_bytes_;
  std::string out_;
  bool exceeded_ = false;
};

}  // namespace outbox::detail

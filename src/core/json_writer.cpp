#include "outbox/json_writer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>

#include "utf8.hpp"

namespace outbox::detail {

namespace {

// The letter of dump()'s two-character escape for `c` (\" \\ \b \f \n \r \t), or 0: \u00XX.
constexpr char short_escape(unsigned char c) {
  switch (c) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    default:
      return 0;
  }
}

}  // namespace

JsonWriter::JsonWriter(std::size_t max_bytes) : max_bytes_(max_bytes) {
  out_.resize(std::min<std::size_t>(max_bytes, 256));  // most events fit: one allocation, no regrowth
  room_ = out_.size();
}

void JsonWriter::append_slow(const char* s, std::size_t n) {
  if (exceeded_) return;
  if (n > max_bytes_ - size_) {
    exceeded_ = true;
    room_ = 0;
    return;
  }
  if (size_ + n > out_.size()) out_.resize(std::min(max_bytes_, std::max(2 * out_.size(), size_ + n)));
  std::char_traits<char>::copy(out_.data() + size_, s, n);
  size_ += n;
  room_ = out_.size() - size_;
}

std::string JsonWriter::take() {
  out_.resize(size_);
  size_ = 0;
  room_ = 0;
  return std::move(out_);
}

// The bytes a JSON string cannot hold as they are: the control characters, '"' and '\\'.
constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> escaped{};
  for (std::size_t c = 0; c < 0x20; ++c) escaped[c] = true;
  escaped['"'] = escaped['\\'] = true;
  return escaped;
}();

void JsonWriter::escape(unsigned char c) {
  if (const char letter = short_escape(c); letter != 0) {
    const char escaped[2] = {'\\', letter};
    append(escaped, 2);
  } else {
    static constexpr char hex[] = "0123456789abcdef";
    const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
    append(escaped, 6);
  }
}

bool JsonWriter::string(std::string_view s) {
  put('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  unsigned char high = 0;  // any byte above 0x7F: then the UTF-8 check
  for (;;) {
    // A run of bytes kept as they are, scanned in a loop of its own so that it stays tight.
    const char* const run = p;
    for (; p != end && !kEscaped[static_cast<unsigned char>(*p)]; ++p) high |= static_cast<unsigned char>(*p);
    append(run, static_cast<std::size_t>(p - run));
    if (p == end) break;
    escape(static_cast<unsigned char>(*p++));
  }
  put('"');
  return (high & 0x80) == 0 || utf8::valid(s);
}

bool JsonWriter::number(double x) {
  if (!std::isfinite(x)) {  // JSON has no NaN or infinity; dump() writes null
    null();
    return false;
  }
  char text[64];
  char* end = nlohmann::detail::to_chars(text, text + sizeof text, x);  // dump()'s own shortest form
  append(text, static_cast<std::size_t>(end - text));
  return true;
}

void JsonWriter::integer(std::int64_t n) {
  char text[24];
  const auto r = std::to_chars(text, text + sizeof text, n);
  append(text, static_cast<std::size_t>(r.ptr - text));
}

void JsonWriter::integer(std::uint64_t n) {
  char text[24];
  const auto r = std::to_chars(text, text + sizeof text, n);
  append(text, static_cast<std::size_t>(r.ptr - text));
}

}  // namespace outbox::detail

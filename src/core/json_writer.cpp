#include "outbox/json_writer.hpp"

#include <algorithm>
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
  out_.reserve(std::min<std::size_t>(max_bytes, 256));  // most events fit: one allocation, no regrowth
}

bool JsonWriter::string(std::string_view s) {
  put('"');
  const char* run = s.data();
  const char* const end = s.data() + s.size();
  unsigned char high = 0;
  for (const char* p = run; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') {
      high |= c;
      continue;
    }
    append(run, static_cast<std::size_t>(p - run));
    run = p + 1;
    if (const char letter = short_escape(c); letter != 0) {
      const char escaped[2] = {'\\', letter};
      append(escaped, 2);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      append(escaped, 6);
    }
  }
  append(run, static_cast<std::size_t>(end - run));
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

void JsonWriter::reorder_members(const std::size_t* starts, const std::uint8_t* order, std::size_t count) {
  if (exceeded_ || count == 0) return;
  const std::size_t base = starts[0];
  thread_local std::string written;  // one buffer per thread: no allocation per put
  written.assign(out_, base, std::string::npos);
  out_.resize(base);
  bool first = true;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t member = order[i];
    const std::size_t length = starts[member + 1] - starts[member];
    if (length == 0) continue;
    if (!first) out_.push_back(',');
    first = false;
    out_.append(written, starts[member] - base, length);
  }
}

}  // namespace outbox::detail

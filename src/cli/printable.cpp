#include "printable.hpp"

#include <fmt/format.h>

namespace outbox::cli {

namespace {

// Length of the well-formed UTF-8 sequence of a printable code point (U+00A0 and up) at `i`, or 0.
std::size_t printable_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c == 0xC2) {
    n = 1;
    lo = 0xA0;
  }  // U+0080..U+009F are the C1 control characters
  else if (c >= 0xC3 && c <= 0xDF)
    n = 1;
  else if (c == 0xE0) {
    n = 2;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
    n = 2;
  else if (c == 0xED) {
    n = 2;
    hi = 0x9F;
  }  // no surrogates
  else if (c == 0xF0) {
    n = 3;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3)
    n = 3;
  else if (c == 0xF4) {
    n = 3;
    hi = 0x8F;
  } else
    return 0;
  if (i + n >= s.size()) return 0;  // truncated
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k <= n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n + 1;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      if (const std::size_t n = printable_sequence(text, i)) {
        out.append(text.substr(i, n));
        i += n;
        continue;
      }
    }
    ++i;
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c >= 0x7F)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace outbox::cli

#include "duration_argument.hpp"

#include <cstdint>
#include <limits>

#include "outbox/errors.hpp"
#include "printable.hpp"

namespace outbox::cli {

std::chrono::seconds parse_duration(const std::string& text, const char* option) {
  auto bad = [&] {
    return UsageError(std::string(option) + " takes a whole number and a unit (s, m, h or d), e.g. 30s, 15m, 12h or " +
                      "7d, not '" + printable(text) + "'");
  };
  if (text.size() < 2) throw bad();
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      throw bad();
  }
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') throw bad();
    // Beyond ~290 billion years a count of seconds (and the clocks it is compared with) overflows.
    if (n > (std::numeric_limits<std::int64_t>::max() / 1'000'000 / unit - (c - '0')) / 10) throw bad();
    n = n * 10 + (c - '0');
  }
  return std::chrono::seconds(n * unit);
}

}  // namespace outbox::cli

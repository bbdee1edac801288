#include "outbox/sink_uri.hpp"

#include <charconv>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox {

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Errors quote at most this much of a value: a huge URI must not flood a log.
std::string quoted(std::string_view text) {
  return "'" + std::string(text.substr(0, 60)) + (text.size() > 60 ? "...'" : "'");
}

}  // namespace

SinkUriParts split_sink_uri(const std::string& uri, std::string_view scheme, const std::string& what) {
  if (!uri.starts_with(scheme)) throw UsageError("not a " + what + " URI: '" + shorten_uri(uri) + "'");
  std::string_view rest(uri);
  rest.remove_prefix(scheme.size());
  SinkUriParts parts;
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    parts.path = std::string(rest.substr(slash + 1));
  }
  // The last '@' ends the credentials: an unencoded '@' in a password still parses.
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    parts.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  parts.authority = std::string(authority);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    parts.params.emplace_back(std::string(item.substr(0, eq)),
                              eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1)));
  }
  return parts;
}

std::string percent_decode(std::string_view text, const std::string& what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 1 < text.size() ? hex(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw UsageError("bad %-escape in the " + what + ": write % as %25");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::int64_t parse_whole_number(std::string_view text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError(what + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", not " + quoted(text));
  }
  return v;
}

bool parse_true_false(std::string_view text, const std::string& what) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw UsageError(what + " takes true or false, not " + quoted(text));
}

}  // namespace outbox

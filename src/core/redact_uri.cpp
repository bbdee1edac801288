// Passwords out of URIs and conninfo strings, for logs and errors. Scanned by hand, in one pass:
// std::regex recursed once per character and crashed (SIGSEGV) on URIs of about 27,000 characters.
#include <cctype>
#include <string_view>

#include "outbox/store.hpp"

namespace outbox {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Length of "scheme://" at the start of `uri` (RFC 3986 scheme), or 0.
std::size_t scheme_prefix(std::string_view uri) {
  if (uri.empty() || !is_alpha(uri[0])) return 0;
  std::size_t i = 1;
  while (i < uri.size() && (is_alpha(uri[i]) || std::isdigit(static_cast<unsigned char>(uri[i])) || uri[i] == '+' ||
                            uri[i] == '.' || uri[i] == '-')) {
    ++i;
  }
  return uri.substr(i, 3) == "://" ? i + 3 : 0;
}

bool starts_with_icase(std::string_view text, std::size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  }
  return true;
}

}  // namespace

std::string redact_uri(const std::string& uri) {
  std::string out;
  out.reserve(uri.size());
  std::size_t i = 0;
  // scheme://user:password@host -> scheme://user:***@host (the password ends at the first '/' or '@').
  if (const std::size_t start = scheme_prefix(uri); start > 0) {
    std::size_t colon = start;
    while (colon < uri.size() && uri[colon] != '/' && uri[colon] != '@' && uri[colon] != ':') ++colon;
    if (colon < uri.size() && uri[colon] == ':') {
      std::size_t at = colon + 1;
      while (at < uri.size() && uri[at] != '/' && uri[at] != '@') ++at;
      if (at < uri.size() && uri[at] == '@') {
        out.append(uri, 0, colon + 1);
        out += "***";
        i = at;
      }
    }
  }
  // password=... in key/value conninfo strings and query parameters; libpq also allows spaces
  // around '=' and a quoted value with spaces and \-escapes in it ("password = 'a b\'c'").
  static constexpr std::string_view kKeywords[] = {"password", "passwd", "pwd", "sasl.password", "secret"};
  while (i < uri.size()) {
    std::size_t value = std::string::npos;
    for (std::string_view k : kKeywords) {
      if (!starts_with_icase(uri, i, k)) continue;
      std::size_t j = i + k.size();
      while (j < uri.size() && is_space(uri[j])) ++j;
      if (j == uri.size() || uri[j] != '=') continue;
      ++j;
      while (j < uri.size() && is_space(uri[j])) ++j;
      value = j;
      break;
    }
    if (value == std::string::npos) {
      out += uri[i++];
      continue;
    }
    out.append(uri, i, value - i);  // keyword and separator as written
    out += "***";
    std::size_t end = value;
    if (end < uri.size() && uri[end] == '\'') {
      for (++end; end < uri.size() && uri[end] != '\''; ++end) {
        if (uri[end] == '\\' && end + 1 < uri.size()) ++end;
      }
      if (end < uri.size()) ++end;  // the closing quote
    } else {
      while (end < uri.size() && uri[end] != '&' && !is_space(uri[end])) ++end;
    }
    i = end;
  }
  return out;
}

std::string shorten_uri(const std::string& uri) {
  constexpr std::size_t kMax = 200;
  std::string redacted = redact_uri(uri);
  if (redacted.size() <= kMax) return redacted;
  return redacted.substr(0, kMax) + "... (" + std::to_string(uri.size()) + " characters)";
}

}  // namespace outbox

// redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N&cloudevents=true&source=URI] into SinkOptions.
// Every error names what is wrong and never echoes the password (shorten_uri redacts it).
#include <charconv>
#include <optional>
#include <sstream>

#include "outbox/destination.hpp"
#include "outbox/errors.hpp"
#include "outbox/redis.hpp"
#include "outbox/store.hpp"

namespace outbox::redis {

namespace {

constexpr const char* kForm = "redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N]";

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// User names and passwords may hold '@', ':' or '/' percent-encoded, as in any URI.
std::string percent_decode(const std::string& s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw UsageError(std::string("bad %-escape in the Redis ") + what + ": write % as %25");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::int64_t parse_number(const std::string& text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError("Redis sink URI: " + what + " must be a whole number from " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", not '" + text.substr(0, 40) + "'");
  }
  return v;
}

}  // namespace

SinkOptions parse_uri(const std::string& uri) {
  const std::string scheme = "redis://";
  if (uri.rfind(scheme, 0) != 0) throw UsageError("not a Redis sink URI: '" + shorten_uri(uri) + "'");
  std::string rest = uri.substr(scheme.size());
  std::string query;
  if (const auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 == rest.size()) {
    throw UsageError("Redis sink URI '" + shorten_uri(uri) + "' needs a stream: " + kForm);
  }
  std::string authority = rest.substr(0, slash);
  SinkOptions o;
  o.stream = rest.substr(slash + 1);
  // The last '@' ends the credentials: an unencoded '@' in a password still parses.
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      throw UsageError("Redis sink URI '" + shorten_uri(uri) +
                       "': credentials are USER:PASSWORD@ (or :PASSWORD@ without a user name)");
    }
    o.user = percent_decode(credentials.substr(0, colon), "user name");
    o.password = percent_decode(credentials.substr(colon + 1), "password");
    if (o.password.empty()) throw UsageError("Redis sink URI '" + shorten_uri(uri) + "': the password is empty");
  }
  std::optional<std::string> port;  // "HOST:" with nothing after is an error, not the default
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos) throw UsageError("Redis sink URI '" + shorten_uri(uri) + "': unclosed '[' in the host");
    o.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw UsageError("Redis sink URI '" + shorten_uri(uri) + "': expected ':PORT' after ']'");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    o.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (o.host.empty()) throw UsageError("Redis sink URI '" + shorten_uri(uri) + "' needs a host: " + kForm);
  if (port) o.port = static_cast<int>(parse_number(*port, "the port", 1, 65535));

  std::stringstream params(query);
  for (std::string item; std::getline(params, item, '&');) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "maxlen") {
      o.maxlen = parse_number(value, "maxlen", 1, std::int64_t{1} << 62);
    } else if (key == "cloudevents") {
      if (value != "true" && value != "false") throw UsageError("Redis sink URI: cloudevents takes true or false");
      o.cloudevents = value == "true";
    } else if (key == "source") {
      o.cloudevents_source = value;
    } else {
      throw UsageError("unknown Redis sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes maxlen, cloudevents and source");
    }
  }
  // Refuses an unknown placeholder now, not at the first message. DestinationTemplate quotes the
  // whole template in its error; a huge one is cut so that it cannot flood a log.
  try {
    DestinationTemplate(o.stream, "stream");
  } catch (const UsageError& e) {
    const std::string what = e.what();
    if (what.size() <= 300) throw;
    throw UsageError(what.substr(0, 300) + "... (" + std::to_string(what.size()) + " characters)");
  }
  return o;
}

}  // namespace outbox::redis

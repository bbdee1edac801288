// redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N&cloudevents=true&source=URI] into SinkOptions.
// Every error names what is wrong and never echoes the password (shorten_uri redacts it).
#include <optional>

#include "outbox/destination.hpp"
#include "outbox/errors.hpp"
#include "outbox/redis.hpp"
#include "outbox/sink_uri.hpp"
#include "outbox/store.hpp"

namespace outbox::redis {

namespace {

constexpr const char* kForm = "redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N]";

std::int64_t parse_number(const std::string& text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  return parse_whole_number(text, "Redis sink URI: " + what, lo, hi);
}

}  // namespace

SinkOptions parse_uri(const std::string& uri) {
  const SinkUriParts parts = split_sink_uri(uri, "redis://", "Redis sink");
  if (!parts.path || parts.path->empty()) {
    throw UsageError("Redis sink URI '" + shorten_uri(uri) + "' needs a stream: " + kForm);
  }
  std::string authority = parts.authority;
  SinkOptions o;
  o.stream = *parts.path;
  if (parts.userinfo) {
    const std::string& credentials = *parts.userinfo;
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      throw UsageError("Redis sink URI '" + shorten_uri(uri) +
                       "': credentials are USER:PASSWORD@ (or :PASSWORD@ without a user name)");
    }
    o.user = percent_decode(credentials.substr(0, colon), "Redis user name");
    o.password = percent_decode(credentials.substr(colon + 1), "Redis password");
    if (o.password.empty()) throw UsageError("Redis sink URI '" + shorten_uri(uri) + "': the password is empty");
  }
  std::optional<std::string> port;                  // "HOST:" with nothing after is an error, not the default
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos)
      throw UsageError("Redis sink URI '" + shorten_uri(uri) + "': unclosed '[' in the host");
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

  for (const auto& [key, value] : parts.params) {
    if (key == "maxlen") {
      o.maxlen = parse_number(value, "maxlen", 1, std::int64_t{1} << 62);
    } else if (key == "cloudevents") {
      o.cloudevents = parse_true_false(value, "Redis sink URI: cloudevents");
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

// http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?sink options] into SinkOptions. Every error names
// what is wrong and never echoes the password (shorten_uri redacts it).
#include <cstdlib>
#include <optional>

#include "outbox/errors.hpp"
#include "outbox/sink_uri.hpp"
#include "outbox/store.hpp"
#include "outbox/webhook.hpp"

namespace outbox::webhook {

namespace {

constexpr const char* kForm = "http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?format=...&batch=N&...]";

std::int64_t parse_number(const std::string& text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  return parse_whole_number(text, "webhook sink URI: " + what, lo, hi);
}

bool printable(const std::string& s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

SinkOptions parse_uri(const std::string& uri) {
  SinkOptions o;
  o.tls = uri.starts_with("https://");
  const SinkUriParts parts = split_sink_uri(uri, o.tls ? "https://" : "http://", "webhook sink");
  if (uri.find('#') != std::string::npos) {
    throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': a #fragment is never sent; leave it out");
  }
  std::string authority = parts.authority;
  if (parts.path) o.path = "/" + *parts.path;
  if (!printable(o.path)) {
    throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': the path holds spaces or control characters");
  }
  if (parts.userinfo) {
    const std::string& credentials = *parts.userinfo;
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': credentials are USER:PASSWORD@");
    }
    o.user = percent_decode(credentials.substr(0, colon), "webhook user name");
    o.password = percent_decode(credentials.substr(colon + 1), "webhook password");
    if (o.password.empty()) throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': the password is empty");
  }
  std::optional<std::string> port;                  // "HOST:" with nothing after is an error, not the default
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos) throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': unclosed '['");
    o.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': expected ':PORT' after ']'");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    o.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (o.host.empty() || !printable(o.host)) {
    throw UsageError("webhook sink URI '" + shorten_uri(uri) + "' needs a host: " + kForm);
  }
  if (port) o.port = static_cast<int>(parse_number(*port, "the port", 1, 65535));

  for (const auto& [key, value] : parts.params) {
    if (key == "format") {
      if (value != "json" && value != "cloudevents") {
        throw UsageError("webhook sink URI: format is json or cloudevents, not '" + value.substr(0, 40) + "'");
      }
      o.cloudevents = value == "cloudevents";
    } else if (key == "source") {
      o.cloudevents_source = value;
    } else if (key == "batch") {
      o.batch = static_cast<int>(parse_number(value, "batch", 1, 10000));
    } else if (key == "timeout_ms") {
      o.timeout_ms = parse_number(value, "timeout_ms", 1, 3600 * 1000);
    } else if (key == "secret_env") {
      if (value.empty()) throw UsageError("webhook sink URI: secret_env needs the name of an environment variable");
      o.secret_env = value;
    } else if (key == "query") {
      o.query = percent_decode(value, "webhook query");
      if (o.query.empty() || !printable(o.query) || o.query.find(' ') != std::string::npos || o.query[0] == '?') {
        throw UsageError(
            "webhook sink URI: query is the endpoint's query string, percent-encoded, without '?' and spaces "
            "(e.g. query=token%3Dabc%26v%3D2 sends ?token=abc&v=2)");
      }
    } else if (key == "ca_file") {
      if (value.empty()) throw UsageError("webhook sink URI: ca_file needs a path");
      o.ca_file = value;
    } else if (key == "insecure" || key == "verify") {
      throw UsageError(
          "webhook sink URI: certificate verification cannot be turned off; give the CA with ca_file=PATH");
    } else {
      throw UsageError("unknown webhook sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes format, source, batch, timeout_ms, secret_env, ca_file and query "
                       "(the query is the sink's; put the endpoint's own query string, percent-encoded, in "
                       "query=...)");
    }
  }
  if (!o.ca_file.empty() && !o.tls) throw UsageError("webhook sink URI: ca_file is for https:// only");
  return o;
}

}  // namespace outbox::webhook

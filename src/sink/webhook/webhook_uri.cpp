// http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?sink options] into SinkOptions. Every error names
// what is wrong and never echoes the password (shorten_uri redacts it).
#include <charconv>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"
#include "outbox/webhook.hpp"

namespace outbox::webhook {

namespace {

constexpr const char* kForm = "http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?format=...&batch=N&...]";

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
    if (hi < 0 || lo < 0) throw UsageError(std::string("bad %-escape in the webhook ") + what + ": write % as %25");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::int64_t parse_number(const std::string& text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError("webhook sink URI: " + what + " must be a whole number from " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", not '" + text.substr(0, 40) + "'");
  }
  return v;
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
  std::string rest;
  if (uri.rfind("https://", 0) == 0) {
    o.tls = true;
    rest = uri.substr(8);
  } else if (uri.rfind("http://", 0) == 0) {
    rest = uri.substr(7);
  } else {
    throw UsageError("not a webhook sink URI: '" + shorten_uri(uri) + "'");
  }
  if (const auto hash = rest.find('#'); hash != std::string::npos) {
    throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': a #fragment is never sent; leave it out");
  }
  std::string query;
  if (const auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    authority = rest.substr(0, slash);
    o.path = rest.substr(slash);
  }
  if (!printable(o.path)) {
    throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': the path holds spaces or control characters");
  }
  // The last '@' ends the credentials: an unencoded '@' in a password still parses.
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      throw UsageError("webhook sink URI '" + shorten_uri(uri) + "': credentials are USER:PASSWORD@");
    }
    o.user = percent_decode(credentials.substr(0, colon), "user name");
    o.password = percent_decode(credentials.substr(colon + 1), "password");
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

  std::stringstream params(query);
  for (std::string item; std::getline(params, item, '&');) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
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
    } else if (key == "ca_file") {
      if (value.empty()) throw UsageError("webhook sink URI: ca_file needs a path");
      o.ca_file = value;
    } else if (key == "insecure" || key == "verify") {
      throw UsageError(
          "webhook sink URI: certificate verification cannot be turned off; give the CA with ca_file=PATH");
    } else {
      throw UsageError("unknown webhook sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes format, source, batch, timeout_ms, secret_env and ca_file "
                       "(the query is the sink's and is not sent)");
    }
  }
  if (!o.ca_file.empty() && !o.tls) throw UsageError("webhook sink URI: ca_file is for https:// only");
  return o;
}

}  // namespace outbox::webhook

#include <charconv>
#include <sstream>

#include "nats_sink.hpp"
#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::nats {

namespace {

const char* const kForm = "nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT]/SUBJECT";

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// User and password are percent-encoded in a URI (a password with '@' or '/' must be).
std::string percent_decode(const std::string& s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) {
      throw UsageError(std::string("the NATS sink URI's ") + what + " has a '%' not followed by two hex digits");
    }
    out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
    i += 2;
  }
  return out;
}

std::int64_t positive(const std::string& key, const std::string& value, std::int64_t max) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > max) {
    throw UsageError("NATS sink URI parameter " + key + "=" + value + ": give a whole number from 1 to " +
                     std::to_string(max));
  }
  return n;
}

void check_server(const std::string& server, const std::string& uri) {
  if (server.empty()) throw UsageError("NATS sink URI '" + shorten_uri(uri) + "' has an empty server: use " + kForm);
  // HOST, HOST:PORT or [IPv6]:PORT; the port, when given, is a number.
  std::string port;
  if (server.front() == '[') {
    const auto close = server.find(']');
    if (close == std::string::npos) throw UsageError("NATS server '" + server + "' has an unclosed '['");
    if (close + 1 < server.size()) {
      if (server[close + 1] != ':') throw UsageError("NATS server '" + server + "': expected [ADDRESS]:PORT");
      port = server.substr(close + 2);
    }
  } else if (const auto colon = server.find(':'); colon != std::string::npos) {
    if (colon == 0) throw UsageError("NATS server '" + server + "' has no host: use HOST:PORT");
    port = server.substr(colon + 1);
  }
  if (server.find_first_of(" \t\r\n/@?#") != std::string::npos) {
    throw UsageError("NATS server '" + server + "' is not HOST:PORT");
  }
  if (!port.empty() || server.back() == ':') positive("port of " + server, port, 65535);
}

}  // namespace

namespace detail {

bool legal_subject(const std::string& s) {
  if (s.empty() || s.size() > 1024 || s.front() == '.' || s.back() == '.') return false;
  char previous = 0;
  for (char c : s) {
    // Wildcards cannot be published to; whitespace and control characters would break the protocol.
    if (c == '*' || c == '>' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

bool legal_stream_name(const std::string& s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return false;
    }
  }
  return true;
}

DestinationTemplate check_subject_template(const std::string& subject) {
  DestinationTemplate t(subject, "subject");
  // The literal parts must make a legal subject whatever the placeholders become.
  Message sample;
  sample.outbox = "outbox";
  sample.type = "type";
  if (!legal_subject(t.render(sample))) {
    throw UsageError("subject '" + subject +
                     "' is not one NATS can publish to: tokens separated by '.', without wildcards ('*', '>'), "
                     "spaces or empty tokens");
  }
  return t;
}

}  // namespace detail

SinkOptions parse_uri(const std::string& uri) {
  const std::string scheme = "nats://";
  if (uri.rfind(scheme, 0) != 0) throw UsageError("not a NATS sink URI: '" + shorten_uri(uri) + "'");
  std::string rest = uri.substr(scheme.size());
  std::string query;
  if (const auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    throw UsageError("NATS sink URI '" + shorten_uri(uri) + "' needs servers and a subject: " + kForm);
  }
  SinkOptions o;
  std::string authority = rest.substr(0, slash);
  o.subject = rest.substr(slash + 1);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    o.user = percent_decode(userinfo.substr(0, colon), "user");
    if (colon != std::string::npos) o.password = percent_decode(userinfo.substr(colon + 1), "password");
    if (o.user.empty()) throw UsageError("NATS sink URI '" + shorten_uri(uri) + "' has credentials without a user");
  }
  std::stringstream servers(authority);
  for (std::string server; std::getline(servers, server, ',');) {
    check_server(server, uri);
    o.servers.push_back(server);
  }
  if (o.servers.empty() || authority.back() == ',') {
    throw UsageError("NATS sink URI '" + shorten_uri(uri) + "' has an empty server: use " + kForm);
  }

  std::stringstream params(query);
  for (std::string item; std::getline(params, item, '&');) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "cloudevents") {
      if (value != "true" && value != "false") throw UsageError("cloudevents takes true or false");
      o.cloudevents = value == "true";
    } else if (key == "source") {
      o.cloudevents_source = value;
    } else if (key == "create_stream") {
      if (!detail::legal_stream_name(value)) {
        throw UsageError("create_stream='" + value +
                         "' is not a JetStream stream name: give a name without '.', '*', '>', '/', '\\' or spaces");
      }
      o.create_stream = value;
    } else if (key == "replicas") {
      o.replicas = static_cast<int>(positive(key, value, 5));
    } else if (key == "ack_timeout_ms") {
      o.ack_timeout_ms = positive(key, value, 3'600'000);
    } else if (key == "max_pending") {
      o.max_pending = positive(key, value, 1'000'000);
    } else {
      throw UsageError("unknown NATS sink URI parameter '" + key +
                       "': the URI takes create_stream, replicas, cloudevents, source, ack_timeout_ms and max_pending");
    }
  }
  if (o.replicas != 1 && o.create_stream.empty()) {
    throw UsageError("replicas applies to a stream the sink creates: add create_stream=NAME, or set the replicas "
                     "of your own stream with the nats CLI");
  }
  detail::check_subject_template(o.subject);
  return o;
}

std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::NatsSink>(options); }

}  // namespace outbox::nats

#include <sstream>

#include "nats_sink.hpp"
#include "outbox/errors.hpp"
#include "outbox/sink_uri.hpp"
#include "outbox/store.hpp"

namespace outbox::nats {

namespace {

const char* const kForm = "nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT]/SUBJECT";

std::int64_t positive(const std::string& key, const std::string& value, std::int64_t max) {
  return parse_whole_number(value, "NATS sink URI parameter " + key, 1, max);
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
    if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || static_cast<unsigned char>(c) <= ' ' ||
        c == 0x7f) {
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
  const SinkUriParts parts = split_sink_uri(uri, "nats://", "NATS sink");
  if (parts.authority.empty() || !parts.path || parts.path->empty()) {
    throw UsageError("NATS sink URI '" + shorten_uri(uri) + "' needs servers and a subject: " + kForm);
  }
  SinkOptions o;
  const std::string& authority = parts.authority;
  o.subject = *parts.path;
  if (parts.userinfo) {
    const std::string& userinfo = *parts.userinfo;
    const auto colon = userinfo.find(':');
    o.user = percent_decode(userinfo.substr(0, colon), "NATS sink URI's user");
    if (colon != std::string::npos) o.password = percent_decode(userinfo.substr(colon + 1), "NATS sink URI's password");
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

  for (const auto& [key, value] : parts.params) {
    if (key == "cloudevents") {
      o.cloudevents = parse_true_false(value, "cloudevents");
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
      throw UsageError("unknown NATS sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes create_stream, replicas, cloudevents, source, ack_timeout_ms and max_pending");
    }
  }
  if (o.replicas != 1 && o.create_stream.empty()) {
    throw UsageError(
        "replicas applies to a stream the sink creates: add create_stream=NAME, or set the replicas "
        "of your own stream with the nats CLI");
  }
  detail::check_subject_template(o.subject);
  return o;
}

std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::NatsSink>(options); }

}  // namespace outbox::nats

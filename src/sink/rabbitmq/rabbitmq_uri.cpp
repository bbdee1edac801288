// amqp://[USER:PASSWORD@]HOST[:PORT][/VHOST][?exchange=X&routing_key=T&cloudevents=true&source=URI
// &confirm_timeout_ms=MS&return_grace_ms=MS] into SinkOptions, on the shared sink_uri helpers. Every error names what
// is wrong and never echoes the password (shorten_uri redacts it).
#include <optional>

#include "outbox/destination.hpp"
#include "outbox/errors.hpp"
#include "outbox/rabbitmq.hpp"
#include "outbox/sink_uri.hpp"
#include "outbox/store.hpp"

namespace outbox::rabbitmq {

namespace {

constexpr const char* kForm = "amqp://[USER:PASSWORD@]HOST[:PORT][/VHOST]?exchange=X[&routing_key={type}]";

std::int64_t parse_number(const std::string& text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  return parse_whole_number(text, "RabbitMQ sink URI: " + what, lo, hi);
}

}  // namespace

SinkOptions parse_uri(const std::string& uri) {
  const SinkUriParts parts = split_sink_uri(uri, "amqp://", "RabbitMQ sink");
  SinkOptions o;
  if (parts.userinfo) {
    const std::string& credentials = *parts.userinfo;
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': credentials are USER:PASSWORD@");
    }
    o.user = percent_decode(credentials.substr(0, colon), "RabbitMQ user name");
    o.password = percent_decode(credentials.substr(colon + 1), "RabbitMQ password");
    if (o.user.empty()) throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': the user name is empty");
    o.credentials_given = true;
  }
  const std::string& authority = parts.authority;
  if (authority.find(',') != std::string::npos) {
    throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': one HOST:PORT only (no list of brokers)");
  }
  std::optional<std::string> port;                  // "HOST:" with nothing after is an error, not the default
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:PORT
    const auto close = authority.find(']');
    if (close == std::string::npos)
      throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': unclosed '[' in the host");
    o.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': expected ':PORT' after ']'");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    o.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (o.host.empty()) throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "' needs a host: " + kForm);
  if (port) o.port = static_cast<int>(parse_number(*port, "the port", 1, 65535));
  // amqp://host/ and amqp://host both mean the vhost "/"; amqp://host/%2F names it; amqp://host/prod is "prod".
  if (parts.path && !parts.path->empty()) {
    if (parts.path->find('/') != std::string::npos) {
      throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) + "': a '/' in the vhost must be written %2F");
    }
    o.vhost = percent_decode(*parts.path, "RabbitMQ vhost");
  }

  bool exchange_given = false;
  for (const auto& [key, value] : parts.params) {
    if (key == "exchange") {
      o.exchange = percent_decode(value, "RabbitMQ exchange");
      exchange_given = true;
    } else if (key == "routing_key") {
      o.routing_key = percent_decode(value, "RabbitMQ routing key");
    } else if (key == "cloudevents") {
      o.cloudevents = parse_true_false(value, "RabbitMQ sink URI: cloudevents");
    } else if (key == "source") {
      o.cloudevents_source = value;
    } else if (key == "confirm_timeout_ms") {
      o.confirm_timeout_ms = parse_number(value, "confirm_timeout_ms", 1, 3600000);
    } else if (key == "connect_timeout_ms") {
      o.connect_timeout_ms = parse_number(value, "connect_timeout_ms", 1, 3600000);
    } else if (key == "return_grace_ms") {
      o.return_grace_ms = parse_number(value, "return_grace_ms", 0, 3600000);
    } else {
      throw UsageError("unknown RabbitMQ sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes exchange, routing_key, cloudevents, source, confirm_timeout_ms, "
                       "connect_timeout_ms and return_grace_ms");
    }
  }
  if (!exchange_given) {
    throw UsageError("RabbitMQ sink URI '" + shorten_uri(uri) +
                     "' needs ?exchange=NAME (exchange= with nothing after it is the default exchange, "
                     "where the routing key names the queue): " +
                     kForm);
  }
  if (o.exchange.size() > 255) throw UsageError("RabbitMQ sink URI: the exchange name is longer than 255 bytes");
  // Refuses an unknown placeholder now, not at the first message. DestinationTemplate quotes the
  // whole template in its error; a huge one is cut so that it cannot flood a log.
  try {
    DestinationTemplate(o.routing_key, "routing key");
  } catch (const UsageError& e) {
    const std::string what = e.what();
    if (what.size() <= 300) throw;
    throw UsageError(what.substr(0, 300) + "... (" + std::to_string(what.size()) + " characters)");
  }
  return o;
}

}  // namespace outbox::rabbitmq

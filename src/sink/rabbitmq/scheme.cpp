// amqp://[USER:PASSWORD@]HOST[:PORT][/VHOST]?exchange=X&routing_key=T in the scheme table. librabbitmq
// has no settings worth passing through, so properties (-X) are refused rather than silently ignored.
#include "outbox/scheme.hpp"
#include "outbox/errors.hpp"
#include "outbox/rabbitmq.hpp"

namespace outbox::rabbitmq {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("amqp://"); }

std::unique_ptr<Sink> open_uri(const std::string& uri, const SinkProperties& properties) {
  if (!properties.empty()) {
    throw UsageError("the RabbitMQ sink takes no client properties (-X " + properties.begin()->first +
                     "): its settings are URI parameters (exchange, routing_key, cloudevents, source, "
                     "confirm_timeout_ms)");
  }
  return make_sink(parse_uri(uri));
}

}  // namespace

const SinkScheme sink_scheme{"rabbitmq", "amqp://[USER:PASSWORD@]HOST[:PORT][/VHOST]?exchange=X[&routing_key={type}]",
                             accepts, open_uri};

}  // namespace outbox::rabbitmq

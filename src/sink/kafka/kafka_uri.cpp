#include "kafka_sink.hpp"
#include "outbox/errors.hpp"
#include "outbox/sink_uri.hpp"
#include "outbox/store.hpp"

namespace outbox::kafka {

SinkOptions parse_uri(const std::string& uri) {
  const SinkUriParts parts = split_sink_uri(uri, "kafka://", "Kafka sink");
  if (parts.authority.empty() || !parts.path || parts.path->empty() || parts.userinfo) {
    throw UsageError("Kafka sink URI '" + shorten_uri(uri) +
                     "' needs brokers and a topic: kafka://HOST:PORT[,HOST:PORT]/TOPIC");
  }
  SinkOptions o;
  o.brokers = parts.authority;
  o.topic = *parts.path;
  for (const auto& [key, value] : parts.params) {
    if (key == "cloudevents") {
      o.cloudevents = parse_true_false(value, "cloudevents");
    } else if (key == "source") {
      o.cloudevents_source = value;
    } else {
      throw UsageError("unknown Kafka sink URI parameter '" + key.substr(0, 60) +
                       "': the URI takes cloudevents and source; pass librdkafka settings as sink properties");
    }
  }
  return o;
}

std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::KafkaSink>(options); }

}  // namespace outbox::kafka

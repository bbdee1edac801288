// kafka://HOST:PORT[,HOST:PORT]/TOPIC in the scheme table; properties go to librdkafka.
#include "outbox/scheme.hpp"
#include "outbox/kafka.hpp"

namespace outbox::kafka {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("kafka://"); }

std::unique_ptr<Sink> open_uri(const std::string& uri, const SinkProperties& properties) {
  auto options = parse_uri(uri);
  options.properties = properties;
  return make_sink(options);
}

}  // namespace

const SinkScheme sink_scheme{"kafka", "kafka://HOST:PORT[,HOST:PORT]/TOPIC", accepts, open_uri};

}  // namespace outbox::kafka

#include <algorithm>
#include <sstream>

#include "kafka_sink.hpp"
#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::kafka {

SinkOptions parse_uri(const std::string& uri) {
  const std::string scheme = "kafka://";
  if (uri.rfind(scheme, 0) != 0) throw UsageError("not a Kafka sink URI: '" + shorten_uri(uri) + "'");
  std::string rest = uri.substr(scheme.size());
  std::string query;
  if (const auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    throw UsageError("Kafka sink URI '" + shorten_uri(uri) + "' needs brokers and a topic: kafka://HOST:PORT[,HOST:PORT]/TOPIC");
  }
  SinkOptions o;
  o.brokers = rest.substr(0, slash);
  o.topic = rest.substr(slash + 1);
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
    } else {
      throw UsageError("unknown Kafka sink URI parameter '" + key +
                       "': the URI takes cloudevents and source; pass librdkafka settings as sink properties");
    }
  }
  return o;
}

std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::KafkaSink>(options); }

}  // namespace outbox::kafka

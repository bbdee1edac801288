// nats://HOST:PORT[,HOST:PORT]/SUBJECT in the scheme table. libnats takes no free-form properties.
#include "outbox/scheme.hpp"
#include "outbox/errors.hpp"
#include "outbox/nats.hpp"

namespace outbox::nats {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("nats://"); }

std::unique_ptr<Sink> open_uri(const std::string& uri, const SinkProperties& properties) {
  if (!properties.empty()) {
    throw UsageError("the NATS sink takes no client properties (-X " + properties.begin()->first +
                     "): its settings are URI parameters, see docs/nats.md");
  }
  return make_sink(parse_uri(uri));
}

}  // namespace

const SinkScheme sink_scheme{"nats", "nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT]/SUBJECT", accepts, open_uri};

}  // namespace outbox::nats

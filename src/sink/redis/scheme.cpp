// redis://[USER:PASSWORD@]HOST:PORT/STREAM in the scheme table. hiredis has no settings worth
// passing through, so properties (-X) are refused rather than silently ignored.
#include "outbox/scheme.hpp"
#include "outbox/errors.hpp"
#include "outbox/redis.hpp"

namespace outbox::redis {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("redis://"); }

std::unique_ptr<Sink> open_uri(const std::string& uri, const SinkProperties& properties) {
  if (!properties.empty()) {
    throw UsageError("the Redis sink takes no client properties (-X " + properties.begin()->first +
                     "): its settings are URI parameters (maxlen, cloudevents, source)");
  }
  return make_sink(parse_uri(uri));
}

}  // namespace

const SinkScheme sink_scheme{"redis", "redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N]", accepts, open_uri};

}  // namespace outbox::redis

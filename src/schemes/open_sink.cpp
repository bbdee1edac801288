// Sink URIs -> sink objects, through the scheme table of the sinks this build has.
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"
#include "plain_text_uri.hpp"

namespace outbox {

std::unique_ptr<Sink> open_sink(const std::string& uri, const SinkProperties& properties) {
  detail::require_plain_text_uri(uri, "sink");
  if (const SinkScheme* scheme = find_sink_scheme(uri)) return scheme->open(uri, properties);
  throw UsageError("unknown sink '" + shorten_uri(uri) + "': use " + sink_usages());
}

}  // namespace outbox

// Sink URIs -> sink objects, through the scheme table of the sinks this build has.
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"

namespace outbox {

std::unique_ptr<Sink> open_sink(const std::string& uri, const SinkProperties& properties) {
  // The C clients read the URI up to its first NUL: what follows would be silently dropped.
  if (uri.find('\0') != std::string::npos) {
    throw UsageError("sink URI '" + shorten_uri(uri.substr(0, uri.find('\0'))) +
                     "...' contains a NUL byte; pass the URI as plain text");
  }
  if (const SinkScheme* scheme = find_sink_scheme(uri)) return scheme->open(uri, properties);
  throw UsageError("unknown sink '" + shorten_uri(uri) + "': use " + sink_usages());
}

}  // namespace outbox

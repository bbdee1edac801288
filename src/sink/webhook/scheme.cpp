// http:// and https:// in the scheme table. httplib has no settings worth passing through, so
// properties (-X) are refused rather than silently ignored.
#include "outbox/scheme.hpp"
#include "outbox/errors.hpp"
#include "outbox/webhook.hpp"

namespace outbox::webhook {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("http://") || uri.starts_with("https://"); }

std::unique_ptr<Sink> open_uri(const std::string& uri, const SinkProperties& properties) {
  if (!properties.empty()) {
    throw UsageError("the webhook sink takes no client properties (-X " + properties.begin()->first +
                     "): its settings are URI parameters, see docs/webhook.md");
  }
  return make_sink(parse_uri(uri));
}

}  // namespace

const SinkScheme sink_scheme{"webhook",
                             "http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?format=json|cloudevents&batch=N"
                             "&timeout_ms=N&secret_env=VAR&ca_file=PATH&query=ENCODED]",
                             accepts, open_uri};

}  // namespace outbox::webhook

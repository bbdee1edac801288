// The Kafka sink (librdkafka, linked privately; rdkafka.h stays out of this header).
//
// URI form, as the CLI takes it:  kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?cloudevents=true&source=URI]
// TOPIC may be a template over the message: {outbox} and {type}, e.g. kafka://127.0.0.1:9092/{outbox}.{type}
#pragma once

#include <map>
#include <memory>
#include <string>

#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"

namespace outbox::kafka {

struct SinkOptions {
  std::string brokers;                            // bootstrap.servers
  std::string topic = "{outbox}";                 // template over {outbox} and {type}
  std::map<std::string, std::string> properties;  // any librdkafka property, applied last (kcat's -X)
  // CloudEvents binary content mode: ce_* headers instead of the outbox's own header names.
  bool cloudevents = false;
  std::string cloudevents_source;  // ce_source; defaults to "/outbox/{outbox}"
};

// librdkafka's linger.ms unless a property sets another. Short, because the relay already hands
// over whole batches and waits for their acknowledgements before reading more than
// RelayOptions::max_in_flight ahead: a longer linger adds its time to every such round trip.
inline constexpr int kDefaultLingerMs = 1;

// Producer defaults: enable.idempotence=true, acks=all, max.in.flight=5 (retries cannot reorder),
// enable.gapless.guarantee=true (a gap becomes a fatal error, after which every in-flight message
// fails and is retried in order by the relay on a fresh producer). Properties that would weaken
// this (enable.idempotence=false, acks other than all/-1, max.in.flight > 5) are refused.
std::unique_ptr<Sink> make_sink(const SinkOptions& options);

// Parses the URI form above into options (properties are added separately).
SinkOptions parse_uri(const std::string& uri);

extern const SinkScheme sink_scheme;  // kafka://..., for the scheme table

}  // namespace outbox::kafka

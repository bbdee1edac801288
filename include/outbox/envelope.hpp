// How a message's envelope travels with it on a broker, shared by every sink so that Kafka, NATS,
// RabbitMQ, Redis and HTTP consumers see the same fields under the same names:
//   plain       - headers id, type, outbox, created, position, then the message's own headers;
//   CloudEvents - binary content mode (attributes as prefixed headers: ce_ on Kafka, ce- on HTTP
//                 and NATS, cloudEvents: on AMQP) or structured mode (one JSON document).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "outbox/message.hpp"

namespace outbox {

struct EnvelopeOptions {
  bool cloudevents = false;
  std::string cloudevents_source;  // CloudEvents `source`; "" means "/outbox/{outbox}"
};

struct Header {
  std::string name;
  std::string value;
};

// The envelope as broker headers, then the message's own headers (which may not reuse an
// envelope name; put refuses none, so a message header of the same name comes after and a
// consumer reading the last value sees the message's). With options.cloudevents, the CloudEvents
// binary-mode attributes under `cloudevents_prefix`, and "content-type: application/json".
std::vector<Header> envelope_headers(const Message& m, const EnvelopeOptions& options,
                                     std::string_view cloudevents_prefix = "ce_");

// The same headers in the same order, handed to `visit(name, value)` one at a time instead of
// copied into a vector: for a sink's per-message path (one string built per message instead of
// seven). The views are valid only during the call.
void visit_envelope_headers(const Message& m, const EnvelopeOptions& options, std::string_view cloudevents_prefix,
                            const std::function<void(std::string_view, std::string_view)>& visit);

// The CloudEvents `source` of `m` under `options`.
std::string cloudevents_source(const Message& m, const EnvelopeOptions& options);

// CloudEvents structured content mode (JSON format, datacontenttype application/json): specversion,
// id, source, type, time, data, and the extensions `partitionkey` (the key, when set) and
// `outboxposition`. The message's own headers go in the extension `outboxheaders` (an object),
// since header names need not be legal CloudEvents attribute names.
std::string cloudevents_structured(const Message& m, const EnvelopeOptions& options);

}  // namespace outbox

// The NATS JetStream sink (libnats, linked privately; nats.h stays out of this header).
//
// URI form, as the CLI takes it:
//   nats://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/SUBJECT[?create_stream=NAME&replicas=N&cloudevents=true&source=URI
//                                                          &ack_timeout_ms=MS&max_pending=N]
// SUBJECT may be a template over the message: {outbox} and {type}, e.g. nats://127.0.0.1:4222/{outbox}.{type}
// See docs/nats.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"

namespace outbox::nats {

struct SinkOptions {
  std::vector<std::string> servers;  // "HOST:PORT", tried in order
  std::string user;                  // percent-decoded; empty = no credentials
  std::string password;
  std::string subject = "{outbox}";  // template over {outbox} and {type}
  // When a subject has no stream: create the stream NAME (file storage) listening on it, or add the
  // subject to NAME if it exists. Empty: such a message fails permanently with what to do.
  std::string create_stream;
  int replicas = 1;  // of a created stream
  // CloudEvents binary content mode: ce- headers (the CloudEvents NATS binding) instead of the
  // outbox's own header names.
  bool cloudevents = false;
  std::string cloudevents_source;  // ce-source; defaults to "/outbox/{outbox}"
  // How long a PubAck may take before the message is failed (retryable).
  std::int64_t ack_timeout_ms = 5000;
  // Published messages awaiting their PubAck, at most; a publish beyond it waits (bounded memory).
  std::int64_t max_pending = 4096;
};

// Publishes with JetStream asynchronously and acknowledges each message on the stream's PubAck.
// Sets Nats-Msg-Id to the envelope id, so JetStream drops a republished message within its
// duplicate window. The connection does not reconnect on its own: a lost connection fails what is
// awaiting a PubAck and a new one is opened, so nothing buffered during an outage can overtake the
// relay's in-order retry.
std::unique_ptr<Sink> make_sink(const SinkOptions& options);

// Parses the URI form above. Throws UsageError (naming the problem) for anything else.
SinkOptions parse_uri(const std::string& uri);

extern const SinkScheme sink_scheme;  // nats://..., for the scheme table

}  // namespace outbox::nats

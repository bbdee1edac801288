// The RabbitMQ sink (AMQP 0-9-1 through librabbitmq, linked privately; amqp.h stays out of this header).
//
// URI form, as the CLI takes it:
//   amqp://[USER:PASSWORD@]HOST[:PORT][/VHOST][?exchange=X&routing_key=TEMPLATE&cloudevents=true&source=URI
//                                              &confirm_timeout_ms=MS&return_grace_ms=MS]
// VHOST is %-decoded ("/" is the default; %2F names it explicitly). ROUTING_KEY may be a template over
// the message: {outbox} and {type} ("{type}" by default), e.g.
//   amqp://app:secret@127.0.0.1:5672/%2F?exchange=orders&routing_key={outbox}.{type}
// Each message is one basic.publish (mandatory, persistent) acknowledged by a publisher confirm;
// see docs/rabbitmq.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"

namespace outbox::rabbitmq {

struct SinkOptions {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";  // percent-decoded; the defaults are RabbitMQ's own
  std::string password = "guest";
  bool credentials_given = false;  // USER:PASSWORD@ was in the URI (describe() redacts it)
  std::string vhost = "/";
  std::string exchange;                // "": the default exchange (routing key = queue name)
  std::string routing_key = "{type}";  // template over {outbox} and {type}
  // CloudEvents binary content mode (the AMQP binding): cloudEvents:* headers instead of the
  // outbox's own header names.
  bool cloudevents = false;
  std::string cloudevents_source;  // cloudEvents:source; defaults to "/outbox/{outbox}"
  // Bounds on connecting and logging in, and on waiting for the confirms of a batch; past them the
  // batch fails retryable and the connection is dropped.
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t confirm_timeout_ms = 10000;
  // A message returned unroutable (basic.return, 312 NO_ROUTE) within this long of the connection
  // opening is retryable, not permanent: a broker that has just restarted can accept connections
  // before it routes to every durable queue again (a queue that failed to recover is restarted
  // later), and the consumers that own the bindings re-declare them when they reconnect. After it,
  // a return is permanent and counts towards the relay's max_attempts. 0: permanent at once.
  std::int64_t return_grace_ms = 10000;
};

// A batch is published in one go (basic.publish per message, pipelined) and then each message is
// acknowledged by its basic.ack; basic.nack, a lost connection or channel and a timeout are
// retryable, basic.return (mandatory: no queue bound; past return_grace_ms of the connection) and an
// unknown exchange are permanent.
std::unique_ptr<Sink> make_sink(const SinkOptions& options);

// Parses the URI form above; throws UsageError saying what is wrong (never echoing the password).
SinkOptions parse_uri(const std::string& uri);

extern const SinkScheme sink_scheme;  // amqp://..., for the scheme table

}  // namespace outbox::rabbitmq

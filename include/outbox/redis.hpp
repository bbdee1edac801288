// The Redis Streams sink (hiredis, linked privately; hiredis.h stays out of this header).
//
// URI form, as the CLI takes it:
//   redis://[USER:PASSWORD@]HOST:PORT/STREAM[?maxlen=N&cloudevents=true&source=URI]
// STREAM may be a template over the message: {outbox} and {type}, e.g. redis://127.0.0.1:6379/{outbox}.{type}
// Each message becomes one stream entry (XADD STREAM [MAXLEN ~ N] * field value ...); docs/redis.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"

namespace outbox::redis {

struct SinkOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;                 // AUTH user password (Redis 6 ACLs); empty: AUTH password alone
  std::string password;             // empty: no AUTH
  std::string stream = "{outbox}";  // template over {outbox} and {type}
  // XADD ... MAXLEN ~ N: Redis trims the stream to about N entries. 0: no trimming. Trimming drops
  // the oldest entries whether or not a consumer group has read them.
  std::int64_t maxlen = 0;
  // CloudEvents binary content mode: ce_* fields instead of the outbox's own field names.
  bool cloudevents = false;
  std::string cloudevents_source;  // ce_source; defaults to "/outbox/{outbox}"
  // Bounds on connecting and on each round trip; past them the batch fails retryable.
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t command_timeout_ms = 5000;
};

// A batch is sent as one pipelined MULTI / XADD... / EXEC round trip and each message acknowledged
// from its XADD reply (the server has it in memory and, with appendfsync always, in its AOF).
std::unique_ptr<Sink> make_sink(const SinkOptions& options);

// Parses the URI form above; throws UsageError saying what is wrong.
SinkOptions parse_uri(const std::string& uri);

extern const SinkScheme sink_scheme;  // redis://..., for the scheme table

}  // namespace outbox::redis

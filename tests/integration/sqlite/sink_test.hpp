// The base of the broker sinks' integration tests (Redis, NATS, RabbitMQ, webhook): a SQLite
// outbox to write committed messages into, and a relay that publishes all of them to a sink URI.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "outbox/outbox.hpp"
#include "sqlite_fixture.hpp"

namespace testing_sqlite {

class SinkTest : public SqliteTest {
 protected:
  // Messages from..to in one transaction, keys order-0..order-(keys-1), each with a traceparent.
  void put_committed(int from, int to, int keys = 5, const char* type = "order_created") {
    exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) {
      auto m = order_created(i, "order-" + std::to_string(i % keys));
      m.type = type;
      m.headers["traceparent"] = "00-" + std::to_string(i) + "-01";
      orders.put(db, m);
    }
    exec(db, "COMMIT");
  }

  // Relays everything committed to `sink_uri` and stops once idle; short backoffs keep retries quick.
  outbox::RelayStats relay_all(const std::string& sink_uri, int max_attempts = 5, std::size_t batch_size = 0) {
    auto store = outbox::open_store(uri());
    auto sink = outbox::open_sink(sink_uri);
    outbox::RelayOptions o;
    o.outbox = "orders";
    o.stop_when_idle = true;
    o.max_attempts = max_attempts;
    o.backoff.initial = std::chrono::milliseconds(10);
    if (backoff_max) o.backoff.max = *backoff_max;
    if (batch_size > 0) o.batch_size = batch_size;
    outbox::Relay relay(*store, *sink, o);
    relay.run();
    return relay.stats();
  }

  std::optional<std::chrono::milliseconds> backoff_max;  // the relay's default unless set
};

}  // namespace testing_sqlite

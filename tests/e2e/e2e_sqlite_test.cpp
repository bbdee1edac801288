// The matrix's SQLite row: the outbox and the writers' tables in one database file. SQLite hands
// out positions under its write lock, so no lower position can commit after a higher one here.
#include "e2e_harness.hpp"
#include "file_sink_under_test.hpp"
#include "sqlite_backend.hpp"
#ifdef OUTBOX_E2E_KAFKA
#include "kafka_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_WEBHOOK
#include "webhook_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_REDIS
#include "redis_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_RABBITMQ
#include "rabbitmq_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_NATS
#include "nats_sink_under_test.hpp"
#endif

namespace outbox::e2e {
namespace {

TEST_F(E2eTest, SqliteToFile) {
  crash::SqliteBackend store(dir_ / "crash.db");
  FileSinkUnderTest sink;
  run_cell(store, sink);
}

#ifdef OUTBOX_E2E_KAFKA
// With retention on: rounds delete what the consumer passed while the broker acknowledges late and
// relays are killed (SQLite's retention also always keeps the newest row: positions never repeat).
TEST_F(E2eTest, SqliteToKafka) {
  crash::SqliteBackend store(dir_ / "crash.db");
  KafkaSinkUnderTest sink;
  run_cell(store, sink, {.retention_max_count = 20});
}
#endif

#ifdef OUTBOX_E2E_REDIS
TEST_F(E2eTest, SqliteToRedis) {
  crash::SqliteBackend store(dir_ / "crash.db");
  RedisSinkUnderTest sink;
  run_cell(store, sink);
}
#endif

#ifdef OUTBOX_E2E_RABBITMQ
TEST_F(E2eTest, SqliteToRabbitmq) {
  if (!testing_rabbitmq::installed())
    GTEST_SKIP() << "rabbitmq-server is not installed (apt-get install rabbitmq-server)";
  crash::SqliteBackend store(dir_ / "crash.db");
  RabbitmqSinkUnderTest sink;
  run_cell(store, sink);
}
#endif

#ifdef OUTBOX_E2E_NATS
TEST_F(E2eTest, SqliteToNats) {
  crash::SqliteBackend store(dir_ / "crash.db");
  NatsSinkUnderTest sink;
  run_cell(store, sink);
}
#endif

#ifdef OUTBOX_E2E_WEBHOOK
TEST_F(E2eTest, SqliteToWebhook) {
  crash::SqliteBackend store(dir_ / "crash.db");
  WebhookSinkUnderTest sink;
  run_cell(store, sink);
}
#endif

}  // namespace
}  // namespace outbox::e2e

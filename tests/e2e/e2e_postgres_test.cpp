// The matrix's PostgreSQL row, on the server of the ctest fixture `postgres`: concurrent writers in
// real transactions, and one late committer that holds each transaction open up to a second after
// taking its position, so lower positions commit after higher ones were published.
#include <memory>

#include "e2e_harness.hpp"
#include "file_sink_under_test.hpp"
#include "pg_backend.hpp"
#ifdef OUTBOX_E2E_KAFKA
#include "kafka_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_REDIS
#include "redis_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_NATS
#include "nats_sink_under_test.hpp"
#endif
#ifdef OUTBOX_E2E_WEBHOOK
#include "webhook_sink_under_test.hpp"
#endif

namespace outbox::e2e {
namespace {

constexpr CellOptions kLateCommits{.late_writers = 1};

TEST_F(E2eTest, PostgresToFile) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>());
  FileSinkUnderTest sink;
  run_cell(*store, sink, kLateCommits);
}

// WAL mode (fixture `postgres_logical`), adversarial: eight writers at once, three of them late
// committers (each transaction puts, then holds its commit open up to a second while the others
// commit), relays stopped only with SIGTERM and restarted by the standby in the middle of the
// stream. Every committed message must come once (no duplicate, none skipped), each key in commit
// order, nothing of a rolled-back transaction. SIGKILL in WAL mode is the crash test's
// (tests/fault, PostgresWalRelayKilledAtRandomMoments...).
TEST_F(E2eTest, PostgresWalToFileLateCommitsExactlyOnceAcrossSigterm) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>(outbox::postgres::Mode::wal));
  FileSinkUnderTest sink;
  run_cell(*store, sink, {.late_writers = 3, .writers = 5, .sigkill = false});
}

#ifdef OUTBOX_E2E_KAFKA
// The most common production pairing, with retention on: rounds delete what the consumer passed
// while lower positions commit late, the broker acknowledges late and relays are killed.
TEST_F(E2eTest, PostgresToKafka) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>());
  KafkaSinkUnderTest sink;
  run_cell(*store, sink, {.late_writers = 1, .retention_max_count = 20});
}

// WAL mode into the real broker: its acknowledgements arrive late and in batches (linger.ms), so
// the slot may only be confirmed up to what the broker acknowledged while later messages are in
// flight; three late committers, relays SIGKILLed and SIGTERMed beside a standby, and the broker
// restarted once. Nothing lost, each key in commit order; duplicates (after a SIGKILL) counted.
TEST_F(E2eTest, PostgresWalToKafkaLateCommits) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>(outbox::postgres::Mode::wal));
  KafkaSinkUnderTest sink;
  run_cell(*store, sink, {.late_writers = 3, .writers = 5});
}
#endif

#ifdef OUTBOX_E2E_REDIS
TEST_F(E2eTest, PostgresToRedis) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>());
  RedisSinkUnderTest sink;
  run_cell(*store, sink, kLateCommits);
}
#endif

#ifdef OUTBOX_E2E_NATS
TEST_F(E2eTest, PostgresToNats) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>());
  NatsSinkUnderTest sink;
  run_cell(*store, sink, kLateCommits);
}
#endif

#ifdef OUTBOX_E2E_WEBHOOK
TEST_F(E2eTest, PostgresToWebhook) {
  std::unique_ptr<crash::PostgresBackend> store;
  ASSERT_NO_THROW(store = std::make_unique<crash::PostgresBackend>());
  WebhookSinkUnderTest sink;
  run_cell(*store, sink, kLateCommits);
}
#endif

}  // namespace
}  // namespace outbox::e2e

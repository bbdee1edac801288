// The crash test against PostgreSQL (crash_harness.hpp, pg_backend.hpp), on the throwaway server of
// the ctest fixture `postgres`, and in WAL mode on the one of `postgres_logical`.
#include <memory>

#include "crash_harness.hpp"
#include "pg_backend.hpp"

namespace outbox::crash {

namespace {

TEST_F(CrashTest, PostgresRelayKilledAtRandomMomentsLosesNothingAndKeepsKeyOrder) {
  std::unique_ptr<PostgresBackend> backend;
  ASSERT_NO_THROW(backend = std::make_unique<PostgresBackend>());
  run(*backend);
}

// WAL mode (fixture `postgres_logical`): the relay reads the consumer's replication slot and is
// killed between the sink's acknowledgement, the checkpoint's save and the slot's confirmation.
TEST_F(CrashTest, PostgresWalRelayKilledAtRandomMomentsLosesNothingAndKeepsKeyOrder) {
  std::unique_ptr<PostgresBackend> backend;
  ASSERT_NO_THROW(backend = std::make_unique<PostgresBackend>(outbox::postgres::Mode::wal));
  run(*backend);
}

}  // namespace

}  // namespace outbox::crash

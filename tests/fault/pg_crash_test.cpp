// The crash test against PostgreSQL (crash_harness.hpp, pg_backend.hpp), on the throwaway server of
// the ctest fixture `postgres`.
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

}  // namespace

}  // namespace outbox::crash

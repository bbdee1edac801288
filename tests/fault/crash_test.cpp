// The crash test against SQLite (crash_harness.hpp): the outbox and the writers' tables in one
// database file in the test's work folder.
#include "crash_harness.hpp"
#include "sqlite_backend.hpp"

namespace outbox::crash {

namespace {

TEST_F(CrashTest, RelayKilledAtRandomMomentsLosesNothingAndKeepsKeyOrder) {
  SqliteBackend backend(dir_ / "crash.db");
  run(backend);
}

}  // namespace

}  // namespace outbox::crash

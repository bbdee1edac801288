// The end-to-end matrix (docs/e2e.md): one store x one sink per test, through the real `outbox`
// processes. Writer processes (tests/fault/crash_writer*.cpp) commit and roll back for a while,
// PostgreSQL's with a late committer among them; two `outbox relay` processes run at any time, one
// holding the consumer's lease and one waiting as a standby; the holder is SIGKILLed or SIGTERMed at
// random moments and a new standby started each time; a Kafka cell restarts its broker once.
// Checked per cell:
//   - every SIGTERM ends the relay with exit status 0 and leaves the lease released (checked in the
//     store right after the exit: the standby does not have to wait out the lease's TTL; how long
//     it took over is measured and printed, for SIGTERM and for SIGKILL);
//   - after the writers stop, `outbox status --json` shows the consumer's lag back at 0 (within a
//     safety bound; the time it took is printed). A stuck checkpoint never gets there;
//   - then both relays are SIGTERMed, the sink's content is read back (Kafka: by a consumer) and
//     judged against what the database committed (crash_verify.hpp): nothing lost, nothing of a
//     rolled-back transaction, each key in commit order; duplicates counted and printed.
//
// Knobs (environment): OUTBOX_E2E_SECONDS (how long writers write; default 20), OUTBOX_E2E_SEED,
// OUTBOX_E2E_LEASE_TTL (s, default 3), OUTBOX_E2E_LAG_BOUND (s, default 30), OUTBOX_E2E_TERMS and
// OUTBOX_E2E_KILLS (at least this many of each; default 3), OUTBOX_E2E_HOLD_MS (the PostgreSQL late
// committer's longest hold; default 1000), OUTBOX_CRASH_WRITERS, OUTBOX_CRASH_KEYS,
// OUTBOX_CRASH_PAUSE_US, OUTBOX_CRASH_KEEP=1 (keep the work folder).
#pragma once

#include "crash_harness.hpp"
#include "sink_under_test.hpp"

namespace outbox::e2e {

struct CellOptions {
  // Writers that hold each transaction open after its put (PostgreSQL only): lower positions
  // committing after higher ones.
  int late_writers = 0;
  // Writers that commit at once (0: the backend's profile, or OUTBOX_CRASH_WRITERS).
  int writers = 0;
  // false: relays are only ever stopped with SIGTERM (never SIGKILL), so every stop saves the
  // checkpoint of what the sink acknowledged and the successor resumes right after it: no message
  // may then be delivered twice (checked).
  bool sigkill = true;
  // > 0: every relay runs retention as users set it, `--max-count N --retention-interval 1`, so
  // rounds delete rows while acknowledgements arrive late, relays are killed and successors re-read
  // from an older checkpoint. Only what every consumer passed may go: nothing may be lost, and the
  // outbox must end smaller than what was committed (checked).
  std::int64_t retention_max_count = 0;
};

class E2eTest : public crash::CrashTest {
 protected:
  void run_cell(crash::CrashBackend& backend, SinkUnderTest& sink, const CellOptions& cell = {});
};

}  // namespace outbox::e2e

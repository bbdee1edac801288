// The crash test, for any store: writer processes (crash_writer.cpp) commit messages over shared
// keys (or keys of their own, see CrashProfile), rolling back a random fifth of their
// transactions, while the real `outbox relay` process is killed with SIGKILL at random moments and
// restarted; at the end one `outbox relay --drain` finishes. Then: every committed message was
// delivered at least once, none from a rolled-back transaction, each key's messages were first
// delivered in commit order, and the duplicates are counted and printed. A CrashBackend says
// where the store lives and how to read the ground truth.
//
// Knobs (environment; the defaults are the backend's, CrashProfile): OUTBOX_CRASH_SEED,
// OUTBOX_CRASH_WRITERS, OUTBOX_CRASH_TXNS (per writer), OUTBOX_CRASH_KEYS, OUTBOX_CRASH_KILLS (at
// least this many kills), OUTBOX_CRASH_PAUSE_US (a writer's longest pause between transactions),
// OUTBOX_CRASH_KEEP=1 (keep the work folder; it is always kept when the test fails).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash_verify.hpp"

namespace outbox::crash {

// What a backend's run looks like unless the environment says otherwise, and what its writers can
// promise.
struct CrashProfile {
  std::int64_t writers = 3;
  std::int64_t txns = 2000;  // per writer
  std::int64_t keys = 8;
  std::int64_t kills = 20;  // at least
  std::int64_t pause_us = 20000;
  // false: the writers share the keys k0 .. k<keys-1>, numbered by crash_key_counters in commit
  // order across writers. true: each writer has `keys` keys of its own (w<writer>k<n>), numbered by
  // that writer alone: for a store whose put is not part of a transaction, where no counter can be
  // taken atomically with it (the only order such a store can promise for a key is one writer's).
  bool keys_per_writer = false;
  // A relay that stops by itself fails the test, unless this text (when not empty) is in an error
  // line of its log: a stop the store makes on purpose and that loses nothing (a store whose
  // server cannot isolate the lease's update stops a relay with LeaseLost).
  std::string accepted_relay_stop;
};

class CrashBackend {
 public:
  virtual ~CrashBackend() = default;
  virtual CrashProfile profile() const { return {}; }
  // Creates the outbox "crash" and the writers' tables: crash_business (writer, seq, idx, key,
  // key_seq, id, position) and, unless keys are per writer, crash_key_counters (key, n) with keys
  // k0 .. k<keys-1> at 0.
  virtual void prepare(std::int64_t keys) = 0;
  // The relay's --store.
  virtual std::string store_uri() const = 0;
  // The writer's TARGET argument.
  virtual std::string writer_target() const = 0;
  // The rows of crash_business, read after everything ended.
  virtual std::vector<Committed> committed() = 0;
  virtual VerifyOptions verify_options() const = 0;
};

// A fresh work folder per test, kept when the test failed (or OUTBOX_CRASH_KEEP=1).
class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Runs the whole test against `backend` (prepared by it); failures are gtest failures.
  void run(CrashBackend& backend);

  std::filesystem::path dir_;
};

std::int64_t env_int(const char* name, std::int64_t fallback);
// Whether a relay's log has an error line (the CLI logs "TIME LEVEL MESSAGE") holding `text`
// (empty: never): CrashProfile::accepted_relay_stop.
bool relay_stopped_with(const std::string& log, const std::string& text);
// This machine's name: a relay's lease owner is "HOST:PID".
std::string hostname();

}  // namespace outbox::crash

// The crash test, for any store: writer processes (crash_writer.cpp) commit messages over shared
// keys, rolling back a random fifth of their transactions, while the real `outbox relay` process
// is killed with SIGKILL at random moments and restarted; at the end one `outbox relay --drain`
// finishes. Then: every committed message was delivered at least once, none from a rolled-back
// transaction, each key's messages were first delivered in commit order, and the duplicates are
// counted and printed. A CrashBackend says where the store lives and how to read the ground truth.
//
// Knobs (environment): OUTBOX_CRASH_SEED, OUTBOX_CRASH_WRITERS (3), OUTBOX_CRASH_TXNS (2000 per
// writer), OUTBOX_CRASH_KEYS (8), OUTBOX_CRASH_KILLS (at least this many kills, 20),
// OUTBOX_CRASH_PAUSE_US (a writer's longest pause between transactions, 20000),
// OUTBOX_CRASH_KEEP=1 (keep the work folder; it is always kept when the test fails).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash_verify.hpp"

namespace outbox::crash {

class CrashBackend {
 public:
  virtual ~CrashBackend() = default;
  // Creates the outbox "crash" and the writers' tables: crash_business (writer, seq, idx, key,
  // key_seq, id, position) and crash_key_counters (key, n) with keys k0 .. k<keys-1> at 0.
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

}  // namespace outbox::crash

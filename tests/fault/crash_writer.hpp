// The crash test's writer process (crash_writer.cpp), shared by its store-specific halves: what
// it is asked to do, what it reports, and the messages it puts.
//
// Ground truth for the verifier, kept by the database itself and not by the library under test:
//   crash_business      one row per message put, in the same transaction; a rolled-back
//                       transaction leaves none, so this table is exactly the set of committed
//                       messages.
//   crash_key_counters  n = the number of committed messages of each key. A message's key_seq is
//                       the counter's value inside its transaction; the counter's row is locked
//                       from the increment to the commit (SQLite: the database write lock;
//                       PostgreSQL: the row lock), so the committed key_seqs of one key are
//                       1, 2, 3, ... in commit order.
// MongoDB's poll and capped modes have no transactions; crash_writer_mongo.cpp says what the same
// words mean there.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "outbox/outbox.hpp"

namespace outbox::crash {

struct WriterArgs {
  std::string target;  // SQLite file path, a PostgreSQL URI / conninfo, or a mongodb:// URI naming the database
  std::int64_t writer = 0, txns = 0, keys = 0;
  std::uint64_t seed = 0;
  std::int64_t max_pause_us = 0;  // longest pause between transactions
  // The end-to-end test (tests/e2e) runs writers for a time rather than a count: no transaction
  // starts after this moment (txns stays an upper bound). Default: no end but txns.
  std::chrono::steady_clock::time_point end = std::chrono::steady_clock::time_point::max();
  // PostgreSQL only: a "late committer". Each transaction puts one message (taking a position and
  // its key's lock), then holds the transaction open for a random 0 .. hold_ms while the other
  // writers commit higher positions, then commits (or rolls back, as any writer does). 0: off.
  std::int64_t hold_ms = 0;

  bool out_of_time() const { return std::chrono::steady_clock::now() >= end; }
};

struct Tally {
  std::int64_t committed_txns = 0, rolled_back_txns = 0, committed_messages = 0, rolled_back_messages = 0;
  std::int64_t recovered_errors = 0;     // failed writes that were looked up and settled (MongoDB writer)
  std::int64_t put_and_commit_txns = 0;  // committed by Outbox::put_and_commit (PostgreSQL writer)
};

inline SchemaRegistry crash_registry() {
  return SchemaRegistry::from_json({{"crash.event",
                                     {{"type", "object"},
                                      {"required", {"writer", "seq", "idx", "key_seq"}},
                                      {"properties",
                                       {{"writer", {{"type", "integer"}}},
                                        {"seq", {{"type", "integer"}}},
                                        {"idx", {{"type", "integer"}}},
                                        {"key_seq", {{"type", "integer"}}}}}}}});
}

inline Message crash_event(const std::string& key, std::int64_t writer, std::int64_t seq, std::int64_t idx,
                           std::int64_t key_seq) {
  Message m;
  m.type = "crash.event";
  m.key = key;
  m.data = {{"writer", writer}, {"seq", seq}, {"idx", idx}, {"key_seq", key_seq}};
  return m;
}

// Each runs args.txns transactions on its own connection and returns the tally; throws on any
// failure. A transaction bumps the counters of 1 to 3 keys, puts one message per key and writes a
// business row per message, then rolls back with probability 1/5 and commits otherwise.
Tally run_sqlite_writer(const WriterArgs& args);
#ifdef OUTBOX_WITH_POSTGRES
Tally run_postgres_writer(const WriterArgs& args);
#endif
#ifdef OUTBOX_WITH_MONGODB
// Without transactions: see crash_writer_mongo.cpp.
Tally run_mongo_writer(const WriterArgs& args);
#endif

}  // namespace outbox::crash

// A writer process for the crash test (crash_test.cpp). It runs TXNS transactions on its own
// connection; each one bumps a per-key counter, writes business rows and puts outbox messages
// (1 to 3, over the shared keys), then rolls back with probability 1/5 and commits otherwise.
//
// Ground truth for the verifier, kept by SQLite itself and not by the library under test:
//   crash_business      one row per message put; a rolled-back transaction leaves none, so this
//                       table is exactly the set of committed messages.
//   crash_key_counters  n = the number of committed messages of each key. A message's key_seq is
//                       the counter's value inside its transaction; since SQLite serializes write
//                       transactions (BEGIN IMMEDIATE), the committed key_seqs of one key are
//                       1, 2, 3, ... in commit order.
//
// Usage: outbox_crash_writer DB WRITER_ID TXNS KEYS SEED MAX_PAUSE_US
// Prints one summary line on stdout; exits 0 on success, 3 on any failure (message on stderr).
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

namespace {

void check(sqlite3* db, int rc, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(doing) + ": " + sqlite3_errmsg(db) + " (rc " + std::to_string(rc) + ")");
  }
}

void exec(sqlite3* db, const char* sql) { check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql); }

struct Stmt {
  sqlite3* db;
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* d, const char* sql) : db(d) { check(db, sqlite3_prepare_v2(db, sql, -1, &s, nullptr), sql); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
};

std::int64_t arg(char** argv, int i) { return std::strtoll(argv[i], nullptr, 10); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s DB WRITER_ID TXNS KEYS SEED MAX_PAUSE_US\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::int64_t writer = arg(argv, 2), txns = arg(argv, 3), keys = arg(argv, 4);
  const std::uint64_t seed = std::strtoull(argv[5], nullptr, 10);
  const std::int64_t max_pause_us = arg(argv, 6);

  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "writer %lld: cannot open %s: %s\n", static_cast<long long>(writer), path.c_str(),
                 db ? sqlite3_errmsg(db) : "out of memory");
    return 3;
  }
  std::int64_t committed_txns = 0, rolled_back_txns = 0, committed_messages = 0, rolled_back_messages = 0;
  try {
    sqlite3_busy_timeout(db, 60000);
    auto registry = outbox::SchemaRegistry::from_json(
        {{"crash.event",
          {{"type", "object"},
           {"required", {"writer", "seq", "idx", "key_seq"}},
           {"properties",
            {{"writer", {{"type", "integer"}}},
             {"seq", {{"type", "integer"}}},
             {"idx", {{"type", "integer"}}},
             {"key_seq", {{"type", "integer"}}}}}}}});
    outbox::sqlite::Outbox box("crash", std::move(registry));
    {
      auto out = box.writer(db);
      Stmt bump(db, "UPDATE crash_key_counters SET n = n + 1 WHERE key = ?1 RETURNING n");
      Stmt row(db,
               "INSERT INTO crash_business (writer, seq, idx, key, key_seq, id, position)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
      std::mt19937_64 rng(seed * 1000003u + static_cast<std::uint64_t>(writer));

      for (std::int64_t seq = 1; seq <= txns; ++seq) {
        exec(db, "BEGIN IMMEDIATE");
        const int messages = 1 + static_cast<int>(rng() % 3);
        for (int idx = 0; idx < messages; ++idx) {
          const std::string key = "k" + std::to_string(rng() % static_cast<std::uint64_t>(keys));

          sqlite3_bind_text(bump.s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
          const int rc = sqlite3_step(bump.s);
          if (rc != SQLITE_ROW) check(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "bump key counter");
          const std::int64_t key_seq = sqlite3_column_int64(bump.s, 0);
          check(db, sqlite3_step(bump.s), "bump key counter (finish)");
          sqlite3_reset(bump.s);

          outbox::Message m;
          m.type = "crash.event";
          m.key = key;
          m.data = {{"writer", writer}, {"seq", seq}, {"idx", idx}, {"key_seq", key_seq}};
          const outbox::Message put = out.put(std::move(m));

          sqlite3_bind_int64(row.s, 1, writer);
          sqlite3_bind_int64(row.s, 2, seq);
          sqlite3_bind_int64(row.s, 3, idx);
          sqlite3_bind_text(row.s, 4, key.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(row.s, 5, key_seq);
          sqlite3_bind_text(row.s, 6, put.id.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(row.s, 7, put.position);
          check(db, sqlite3_step(row.s), "insert business row");
          sqlite3_reset(row.s);
        }
        if (rng() % 5 == 0) {
          exec(db, "ROLLBACK");
          ++rolled_back_txns;
          rolled_back_messages += messages;
        } else {
          exec(db, "COMMIT");
          ++committed_txns;
          committed_messages += messages;
        }
        if (max_pause_us > 0) {
          std::this_thread::sleep_for(
              std::chrono::microseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(max_pause_us))));
        }
      }
    }  // the Writer's statement is finalized before the connection closes
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %lld failed: %s\n", static_cast<long long>(writer), e.what());
    sqlite3_close_v2(db);
    return 3;
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    std::fprintf(stderr, "writer %lld: close failed: %s\n", static_cast<long long>(writer), sqlite3_errmsg(db));
    return 3;
  }
  std::printf("writer %lld committed_txns %lld rolled_back_txns %lld committed_messages %lld rolled_back_messages %lld\n",
              static_cast<long long>(writer), static_cast<long long>(committed_txns),
              static_cast<long long>(rolled_back_txns), static_cast<long long>(committed_messages),
              static_cast<long long>(rolled_back_messages));
  return 0;
}

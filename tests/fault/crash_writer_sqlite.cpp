// The crash test's writer against SQLite: BEGIN IMMEDIATE serializes the writers, so counters,
// positions and commits are all in one order.
#include <sqlite3.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "crash_writer.hpp"
#include "outbox/sqlite.hpp"

namespace outbox::crash {

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

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close_v2(db);
      throw std::runtime_error("cannot open " + path + ": " + why);
    }
  }
  ~Db() { sqlite3_close_v2(db); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
};

}  // namespace

Tally run_sqlite_writer(const WriterArgs& a) {
  Db conn(a.target);
  sqlite3* db = conn.db;
  sqlite3_busy_timeout(db, 60000);
  Tally t;
  outbox::sqlite::Outbox box("crash", crash_registry());
  auto out = box.writer(db);
  Stmt bump(db, "UPDATE crash_key_counters SET n = n + 1 WHERE key = ?1 RETURNING n");
  Stmt row(db,
           "INSERT INTO crash_business (writer, seq, idx, key, key_seq, id, position)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  std::mt19937_64 rng(a.seed * 1000003u + static_cast<std::uint64_t>(a.writer));

  for (std::int64_t seq = 1; seq <= a.txns && !a.out_of_time(); ++seq) {
    exec(db, "BEGIN IMMEDIATE");
    const int messages = 1 + static_cast<int>(rng() % 3);
    for (int idx = 0; idx < messages; ++idx) {
      const std::string key = "k" + std::to_string(rng() % static_cast<std::uint64_t>(a.keys));

      sqlite3_bind_text(bump.s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      const int rc = sqlite3_step(bump.s);
      if (rc != SQLITE_ROW) check(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "bump key counter");
      const std::int64_t key_seq = sqlite3_column_int64(bump.s, 0);
      check(db, sqlite3_step(bump.s), "bump key counter (finish)");
      sqlite3_reset(bump.s);

      const Message put = out.put(crash_event(key, a.writer, seq, idx, key_seq));

      sqlite3_bind_int64(row.s, 1, a.writer);
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
      ++t.rolled_back_txns;
      t.rolled_back_messages += messages;
    } else {
      exec(db, "COMMIT");
      ++t.committed_txns;
      t.committed_messages += messages;
    }
    if (a.max_pause_us > 0) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(a.max_pause_us))));
    }
  }
  return t;  // the Writer's statement is finalized before the connection closes (declared after it)
}

}  // namespace outbox::crash

// The crash and end-to-end tests' SQLite backend (crash_harness.hpp): the outbox and the writers'
// tables in one database file in the test's work folder. Positions are handed out under SQLite's
// single write lock, so they follow commit order: no lower position can commit late here.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "crash_harness.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

namespace outbox::crash {

namespace sqlite_detail {

inline void exec_sql(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string what = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(sql + ": " + what);
  }
}

}  // namespace sqlite_detail

class SqliteBackend : public CrashBackend {
 public:
  explicit SqliteBackend(std::filesystem::path db) : path_(std::move(db)) {}

  void prepare(std::int64_t keys) override {
    sqlite3* db = nullptr;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot create " + path_.string());
    }
    try {
      outbox::sqlite::Outbox("crash", outbox::SchemaRegistry{}).init(db);
      sqlite_detail::exec_sql(
          db,
          "CREATE TABLE crash_business (writer INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
          " key TEXT NOT NULL, key_seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, position INTEGER NOT NULL,"
          " PRIMARY KEY (writer, seq, idx));"
          "CREATE TABLE crash_key_counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);");
      for (std::int64_t k = 0; k < keys; ++k) {
        sqlite_detail::exec_sql(db, "INSERT INTO crash_key_counters VALUES ('k" + std::to_string(k) + "', 0)");
      }
    } catch (...) {
      sqlite3_close(db);
      throw;
    }
    sqlite3_close(db);
  }

  std::string store_uri() const override { return "sqlite:" + path_.string(); }
  std::string writer_target() const override { return path_.string(); }
  VerifyOptions verify_options() const override { return {}; }  // positions are commit order

  std::vector<Committed> committed() override {
    std::vector<Committed> out;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot open " + path_.string());
    }
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT writer, seq, idx, key, key_seq, id, position FROM crash_business", -1, &s,
                           nullptr) != SQLITE_OK) {
      const std::string why = sqlite3_errmsg(db);
      sqlite3_close(db);
      throw std::runtime_error("reading crash_business: " + why);
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      Committed c;
      c.writer = sqlite3_column_int64(s, 0);
      c.seq = sqlite3_column_int64(s, 1);
      c.idx = sqlite3_column_int64(s, 2);
      c.key = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      c.key_seq = sqlite3_column_int64(s, 4);
      c.id = reinterpret_cast<const char*>(sqlite3_column_text(s, 5));
      c.position = sqlite3_column_int64(s, 6);
      out.push_back(std::move(c));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace outbox::crash

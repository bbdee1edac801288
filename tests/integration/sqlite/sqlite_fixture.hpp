// A fresh SQLite database in a temporary folder, an `orders` outbox in it, and a business table.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "order_messages.hpp"
#include "outbox/sqlite.hpp"

namespace testing_sqlite {

inline void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(sql + ": " + msg);
  }
}

inline std::int64_t count(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
  std::int64_t v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

using testing_support::order_created;
using testing_support::order_schemas;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/outbox-test-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/service.db";
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    orders.init(db);
    exec(db, "CREATE TABLE orders (nr INTEGER PRIMARY KEY, status TEXT)");
  }
  void TearDown() override {
    sqlite3_close_v2(db);
    std::filesystem::remove_all(dir);
  }

  std::string uri() const { return "sqlite:" + path; }

  std::string dir, path;
  sqlite3* db = nullptr;
  outbox::sqlite::Outbox orders{"orders", order_schemas()};
};

}  // namespace testing_sqlite

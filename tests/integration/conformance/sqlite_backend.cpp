// SQLite in the suite: a database file in a fresh temporary folder; writes in the caller's
// transaction through outbox::sqlite::Outbox::put on a connection of the test's own.
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <stdexcept>

#include "order_messages.hpp"
#include "outbox/sqlite.hpp"
#include "store_kind.hpp"

namespace conformance {
namespace {

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(sql + ": " + msg);
  }
}

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() {
    char tmpl[] = "/tmp/outbox-conformance-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/service.db";
  }
  ~SqliteBackend() override {
    if (db_) sqlite3_close_v2(db_);
    std::filesystem::remove_all(dir_);
  }

  std::string uri() const override { return "sqlite:" + path_; }

  std::unique_ptr<Transaction> begin() override {
    // Opened on first use: the suite creates the outbox through the Store first.
    if (!db_) {
      if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path_);
      sqlite3_busy_timeout(db_, 5000);
    }
    return std::make_unique<Tx>(*this);
  }

 private:
  class Tx final : public Transaction {
   public:
    explicit Tx(SqliteBackend& b) : b_(b) { exec(b_.db_, "BEGIN"); }
    ~Tx() override {
      if (open_) sqlite3_exec(b_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    outbox::Message put(outbox::Message m) override {
      auto [it, added] = b_.writers_.try_emplace(m.outbox, m.outbox, testing_support::order_schemas());
      return it->second.put(b_.db_, std::move(m));
    }
    void commit() override {
      exec(b_.db_, "COMMIT");
      open_ = false;
    }

   private:
    SqliteBackend& b_;
    bool open_ = true;
  };

  std::string dir_, path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, outbox::sqlite::Outbox> writers_;
};

}  // namespace

std::vector<StoreKind> sqlite_kinds() {
  Capabilities can;
  // Retention by age finds the end of the old messages by walking from the oldest (there is no
  // index on the creation time, which would cost every put a page; src/store/sqlite/store.cpp).
  can.age_rule = AgeRule::oldest_prefix;
  // Positions are plain rowids (max + 1), so the newest row must stay for them never to repeat.
  can.keeps_newest = true;
  return {{"sqlite", can, [] { return std::make_unique<SqliteBackend>(); }}};
}

}  // namespace conformance

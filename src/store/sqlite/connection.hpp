// A thin RAII layer over the sqlite3 C API, private to the SQLite store: connections close,
// statements finalize and transactions roll back on destruction; every error becomes a StoreError
// saying whether a retry may help.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace outbox::sqlite::detail {

// Throws StoreError for `rc` (SQLITE_BUSY / SQLITE_LOCKED are retryable).
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& doing);

// Why this process cannot create or write the database at `path` (a missing or unwritable folder,
// an unwritable file), as advice a user can act on; "" when the file system shows no such reason.
std::string access_problem(const std::string& path);

// Runs `f` again while it throws a retryable StoreError (busy/locked), pausing 1 ms growing to
// 50 ms with jitter, for up to `limit`; then the last error is thrown. For the statements SQLite's
// busy handler does not wait on, such as switching the journal mode.
void retry_while_busy(const std::function<void()>& f, std::chrono::milliseconds limit);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql, bool persistent = false);
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, std::string_view v);  // bound as text (SQLITE_TRANSIENT)
  Statement& bind(int i, const std::optional<std::string>& v);
  // Bound without a copy (SQLITE_STATIC): `v` must outlive the run() or step()s that read it.
  // run(), reset() and a failed step() clear the bindings, so nothing dangles afterwards. For the
  // put's INSERT, where copying its texts cost about a tenth of the put (callgrind).
  Statement& bind_unowned(int i, std::string_view v);
  Statement& bind_unowned(int i, const std::optional<std::string>& v);
  Statement& bind_null(int i);

  // Steps once: true while a row is available. Throws StoreError on failure (after a reset, so
  // the statement can be used again).
  bool step();
  // Steps to completion, then resets for reuse.
  void run();
  void reset();

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const;
  std::string_view text_view(int col) const;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Connection {
 public:
  Connection(const std::string& path, int flags, int busy_timeout_ms);
  Connection(Connection&& o) noexcept : db_(o.db_), busy_timeout_ms_(std::move(o.busy_timeout_ms_)) { o.db_ = nullptr; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db_); }

  sqlite3* get() const { return db_; }
  void exec(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
  std::unique_ptr<int> busy_timeout_ms_;  // the busy handler's argument, at a stable address
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  sqlite3* db_;
  bool done_ = false;
};

void exec(sqlite3* db, const std::string& sql);

}  // namespace outbox::sqlite::detail

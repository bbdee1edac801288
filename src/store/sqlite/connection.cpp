#include "connection.hpp"

#include <chrono>
#include <thread>

#include "outbox/errors.hpp"

namespace outbox::sqlite::detail {

void fail(sqlite3* db, int rc, const std::string& doing) {
  const int primary = rc & 0xFF;
  const bool retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  std::string what = "sqlite: " + doing + " failed: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (retryable) what += " (the database is locked by another writer; retry, or raise the busy timeout)";
  throw StoreError(what, retryable);
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string message = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const int primary = rc & 0xFF;
    throw StoreError("sqlite: " + message + " (while running: " + sql.substr(0, 80) + ")",
                     primary == SQLITE_BUSY || primary == SQLITE_LOCKED);
  }
}

Statement::Statement(sqlite3* db, std::string_view sql, bool persistent) : db_(db) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    fail(db, rc, "preparing '" + std::string(sql.substr(0, 60)) + "' (has `outbox init` run?)");
  }
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, const std::optional<std::string>& v) {
  return v ? bind(i, std::string_view(*v)) : bind_null(i);
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(db_, rc, std::string("running '") + std::string(sqlite3_sql(stmt_)).substr(0, 60) + "'");
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::text(int col) const { return std::string(text_view(col)); }

std::string_view Statement::text_view(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view();
}

namespace {
// SQLite's default busy handler sleeps 1, 2, 5, 10... ms between tries. A writer's commit holds
// the lock for well under a millisecond, so those sleeps would dominate the relay's latency: try
// again after 50 µs, growing to 1 ms, until the timeout.
int short_sleep_busy_handler(void* timeout_ms, int tries) {
  static thread_local auto started = std::chrono::steady_clock::now();
  if (tries == 0) started = std::chrono::steady_clock::now();
  const auto limit = std::chrono::milliseconds(*static_cast<int*>(timeout_ms));
  if (std::chrono::steady_clock::now() - started >= limit) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(std::min(50 * (tries + 1), 1000)));
  return 1;
}
}  // namespace

Connection::Connection(const std::string& path, int flags, int busy_timeout_ms) {
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StoreError("sqlite: cannot open '" + path + "': " + message +
                         " (check the path; `outbox init` creates the database)",
                     false);
  }
  busy_timeout_ms_ = std::make_unique<int>(busy_timeout_ms);
  sqlite3_busy_handler(db_, short_sleep_busy_handler, busy_timeout_ms_.get());
  sqlite3_extended_result_codes(db_, 1);
}

void Connection::exec(const std::string& sql) { detail::exec(db_, sql); }

Transaction::Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  exec(db_, "COMMIT");
  done_ = true;
}

}  // namespace outbox::sqlite::detail

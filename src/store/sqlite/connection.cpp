#include "connection.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "outbox/errors.hpp"

namespace outbox::sqlite::detail {

namespace {
bool is_busy(int rc) { return (rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED; }

// SQLite says "unable to open database file" or "attempt to write a readonly database" both for a
// file it cannot write and for a folder it cannot create the -wal/-shm files in; say which.
std::string explain(sqlite3* db, int rc) {
  const int primary = rc & 0xFF;
  if (primary != SQLITE_CANTOPEN && primary != SQLITE_READONLY) return {};
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  return file && *file ? access_problem(file) : std::string();
}

std::filesystem::path folder_of(const std::string& path) {
  const auto folder = std::filesystem::path(path).parent_path();
  return folder.empty() ? std::filesystem::path(".") : folder;
}

bool folder_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(folder_of(path), ec);
}
}  // namespace

std::string access_problem(const std::string& path) {
  const auto folder = folder_of(path);
  if (!folder_exists(path)) {
    return "the folder '" + folder.string() + "' does not exist; check the path, or create the folder first";
  }
  if (::access(folder.c_str(), W_OK) != 0) {
    return "the folder '" + folder.string() + "' is not writable by this user (" + std::strerror(errno) +
           "): SQLite creates the database's -wal and -shm files next to it (and, for a new database, the "
           "file itself); make the folder writable for the user this runs as, or move the database to a "
           "folder it can write";
  }
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), W_OK) != 0) {
    return "the database file '" + path + "' is not writable by this user (" + std::strerror(errno) +
           "); give this user write access to it (and to its -wal and -shm files, if they exist)";
  }
  return {};
}

void fail(sqlite3* db, int rc, const std::string& doing) {
  const bool retryable = is_busy(rc);
  std::string what = "sqlite: " + doing + " failed: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (retryable) what += " (the database is locked by another writer; retry, or raise the busy timeout)";
  if (const auto why = explain(db, rc); !why.empty()) what += ": " + why;
  throw StoreError(what, retryable);
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    message += " (while running: " + sql.substr(0, 80) + ")";
    if (const auto why = explain(db, rc); !why.empty()) message += ": " + why;
    throw StoreError("sqlite: " + message, is_busy(rc));
  }
}

void retry_while_busy(const std::function<void()>& f, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::minstd_rand rng(std::random_device{}());
  std::chrono::microseconds pause(1000);
  for (;;) {
    try {
      f();
      return;
    } catch (const StoreError& e) {
      if (!e.retryable() || std::chrono::steady_clock::now() + pause > deadline) throw;
    }
    // Jitter, so that processes that collided once do not collide again in lock step.
    std::this_thread::sleep_for(pause / 2 + std::chrono::microseconds(rng() % pause.count()));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(50));
  }
}

Statement::Statement(sqlite3* db, std::string_view sql, bool persistent) : db_(db) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    // A missing table means the outbox was never initialised; other failures have other causes.
    const bool no_table = std::strstr(sqlite3_errmsg(db), "no such table") != nullptr;
    fail(db, rc, "preparing '" + std::string(sql.substr(0, 60)) + "'" + (no_table ? " (has `outbox init` run?)" : ""));
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
Statement& Statement::bind_unowned(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Statement& Statement::bind_unowned(int i, const std::optional<std::string>& v) {
  return v ? bind_unowned(i, std::string_view(*v)) : bind_null(i);
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  reset();
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
    const std::string why = access_problem(path);
    if (!folder_exists(path)) throw UsageError("sqlite: cannot open '" + path + "': " + why);  // bad input
    throw StoreError("sqlite: cannot open '" + path + "': " + message + "; " +
                         (why.empty() ? "check the path and its permissions" : why),
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

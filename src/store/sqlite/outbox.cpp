// The write side: runs on the caller's connection and transaction.
#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "outbox/sqlite.hpp"
#include "tables.hpp"

namespace outbox::sqlite {

namespace {
// How long init() retries a busy database; the caller's busy timeout is not readable from SQLite.
constexpr std::chrono::milliseconds kInitRetryLimit{5000};
}  // namespace

Outbox::Outbox(std::string name, SchemaRegistry registry) : name_(std::move(name)), registry_(std::move(registry)) {
  check_identifier(name_, "outbox name");
  insert_sql_ = detail::insert_sql(name_);
}

void Outbox::init(sqlite3* db) const {
  if (!sqlite3_get_autocommit(db)) {
    throw UsageError("init must run outside a transaction (it switches the database to WAL mode)");
  }
  // Services that initialise their outbox on start collide on the switch to WAL when many start
  // at once on a new database, and SQLite's busy handler does not wait for that switch: retry the
  // whole (idempotent) init for a while, rolling back whatever a failed try left open.
  detail::retry_while_busy(
      [&] {
        try {
          detail::exec(db, "PRAGMA journal_mode=WAL");
          detail::exec(db, "BEGIN IMMEDIATE;" + detail::create_sql(name_) + "COMMIT;");
        } catch (...) {
          if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
          throw;
        }
      },
      kInitRetryLimit);
}

Message Outbox::put(sqlite3* db, Message m) const {
  detail::Statement insert(db, insert_sql_);
  detail::insert_message(db, insert, name_, registry_, m);
  return m;
}

Writer Outbox::writer(sqlite3* db) const { return Writer(*this, db); }

struct Writer::Impl {
  detail::Statement insert;
};

Writer::Writer(const Outbox& outbox, sqlite3* db)
    : outbox_(&outbox),
      db_(db),
      impl_(std::make_unique<Impl>(Impl{detail::Statement(db, outbox.insert_sql_, /*persistent=*/true)})) {}

Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&&) noexcept = default;
Writer::~Writer() = default;

Message Writer::put(Message m) {
  if (!impl_) throw UsageError("this Writer was moved from; use the one it was moved to");
  detail::insert_message(db_, impl_->insert, outbox_->name_, outbox_->registry_, m);
  return m;
}

}  // namespace outbox::sqlite

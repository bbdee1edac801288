// The SQLite store, write side. `put` runs on the caller's connection inside the caller's open
// transaction, so the business rows and the event commit or roll back together. Works with a raw
// sqlite3* and with wrappers that expose it (SQLiteCpp: db.getHandle()).
#pragma once

#include <memory>
#include <string>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"

struct sqlite3;  // from <sqlite3.h>, which stays out of this header

namespace outbox::sqlite {

// A prepared INSERT bound to one connection: the fast path for services that put often.
// Move-only; finalizes its statement on destruction, so destroy it before closing the connection.
class Writer {
 public:
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Validates `m`, fills id/created when empty, inserts it and returns it with its position.
  // Requires an open transaction on the connection (throws UsageError otherwise). On any error
  // nothing is written and the caller's transaction stays open and usable.
  Message put(Message m);

 private:
  friend class Outbox;
  Writer(const class Outbox& outbox, sqlite3* db);
  struct Impl;
  const Outbox* outbox_;
  sqlite3* db_;
  std::unique_ptr<Impl> impl_;
};

// A named outbox in an SQLite database, with the schema registry of its message types.
class Outbox {
 public:
  Outbox(std::string name, SchemaRegistry registry);

  // Creates the outbox's tables and indexes if missing and switches the database to WAL.
  // Idempotent; must not run inside an open transaction. While the database is busy (other
  // processes initialising or writing it) it retries for up to 5 s, since SQLite's busy handler
  // does not wait for the switch to WAL.
  void init(sqlite3* db) const;

  // One-off put: like Writer::put, preparing its statement each time.
  Message put(sqlite3* db, Message m) const;
  Writer writer(sqlite3* db) const;

  const std::string& name() const noexcept { return name_; }
  const SchemaRegistry& registry() const noexcept { return registry_; }

 private:
  friend class Writer;
  std::string name_;
  std::string table_;
  std::string insert_sql_;
  SchemaRegistry registry_;
};

// The relay/CLI side: a Store over its own connections to the database file. Only the store's
// init() creates a missing database file; every other operation on a missing file throws
// UsageError naming the path (a mistyped path must not become an empty database).
std::unique_ptr<Store> open(const std::string& path, const StoreOptions& options = {});

extern const StoreScheme store_scheme;  // sqlite:PATH, for the scheme table

}  // namespace outbox::sqlite

// The PostgreSQL store, write side. `put` runs on the caller's connection inside the caller's open
// transaction, so the business rows and the event commit or roll back together. Works with a raw
// PGconn* from libpq (and with wrappers that expose it). <libpq-fe.h> stays out of this header.
//
// Order and delivery guarantees, and their limits, are described in docs/postgres.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"

typedef struct pg_conn PGconn;  // from <libpq-fe.h>

namespace outbox::postgres {

struct OutboxOptions {
  // Each put also wakes a sleeping relay: while no relay sleeps, it only tries an advisory lock in
  // shared mode (no NOTIFY, no cluster-wide lock at commit); while one sleeps, it also NOTIFYs.
  // false: nothing is done for wake-ups, and relays of this outbox must poll
  // (StoreOptions::wakeups = false, `outbox relay --poll`), or they see such commits only at their
  // re-check interval.
  bool wake_relay = true;
};

// A put as one SQL statement and its parameters, for callers that send statements their own way:
// libpqxx (outbox/pqxx.hpp), libpq pipeline mode (PQsendQueryParams, so the put rides in the same
// network flight as the caller's other statements and its COMMIT), or a driver of another kind.
// Parameters are text (nullopt = NULL). The statement returns one row, one column: the position.
struct PutStatement {
  std::string sql;
  std::vector<std::optional<std::string>> params;
};

class Outbox;

// An outbox bound to one connection: what MessageSet::put (outbox/typed.hpp) and other code
// written for any store take, as with sqlite::Writer and mongodb::Writer. Holds two pointers; the
// outbox and the connection must outlive it.
class Writer {
 public:
  // Outbox::put on the bound connection.
  Message put(Message m);

 private:
  friend class Outbox;
  Writer(const Outbox& outbox, PGconn* conn) : outbox_(&outbox), conn_(conn) {}
  const Outbox* outbox_;
  PGconn* conn_;
};

// A named outbox in a PostgreSQL database (the connection's search_path decides the schema), with
// the schema registry of its message types.
class Outbox {
 public:
  Outbox(std::string name, SchemaRegistry registry, OutboxOptions options = {});

  // Creates the outbox's table, indexes and the store's bookkeeping tables if missing, in one
  // transaction of its own. Idempotent; must not run inside an open transaction (UsageError).
  void init(PGconn* conn) const;
  // The same DDL as text, for a migration tool (`outbox init --print-sql`).
  std::string init_sql() const;

  // Validates `m`, fills id/created when empty, and inserts it in the caller's open transaction
  // (UsageError if there is none, or if it already failed). For a message with a key it first
  // takes a transaction-level advisory lock on (outbox, key), so transactions writing the same key
  // are serialised from their put to their commit; lock and insert are one statement, one round
  // trip. Returns the message with its position.
  //
  // Errors: ValidationError before anything is sent (the transaction stays usable). A database
  // error (StoreError) aborts the caller's transaction, as any failed statement does in
  // PostgreSQL; roll it back.
  Message put(PGconn* conn, Message m) const;

  // What put() sends, without sending it: validates `m` (ValidationError before anything is
  // sent), fills its id and created time, and returns the statement. The caller must run it inside
  // its open transaction, exactly once, and read the position from the result.
  PutStatement prepare_put(Message& m) const;
  // put() on `conn`, as an object (see Writer).
  Writer writer(PGconn* conn) const { return Writer(*this, conn); }

  const std::string& name() const noexcept { return name_; }
  const SchemaRegistry& registry() const noexcept { return registry_; }

 private:
  std::string name_;
  SchemaRegistry registry_;
  OutboxOptions options_;
};

// The SQL that `Outbox::init` runs for `outbox` (checked with check_identifier).
std::string init_sql(const std::string& outbox);

// The relay/CLI side: a Store over connections of its own. `conninfo` is a `postgresql://` or
// `postgres://` URI or a libpq key=value string; PG* environment variables and ~/.pgpass apply as
// in libpq.
std::unique_ptr<Store> open(const std::string& conninfo, const StoreOptions& options = {});

extern const StoreScheme store_scheme;  // postgresql://... and conninfo strings, for the scheme table

}  // namespace outbox::postgres

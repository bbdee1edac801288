// The PostgreSQL store, write side. `put` runs on the caller's connection inside the caller's open
// transaction, so the business rows and the event commit or roll back together. Works with a raw
// PGconn* from libpq (and with wrappers that expose it). <libpq-fe.h> stays out of this header.
//
// Order and delivery guarantees, and their limits, are described in docs/postgres.md.
#pragma once

#include <atomic>
#include <cstdint>
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

// Where an outbox keeps its messages (chosen at init and stored; see docs/postgres.md):
//  - table: a message table "outbox_<name>", read by snapshot differences (any PostgreSQL 13+);
//  - wal: no table. A put emits the message into the write-ahead log with
//    pg_logical_emit_message(true, 'outbox:<name>', ...) in the caller's transaction; relays read
//    it back in commit order through a logical replication slot per consumer (pgoutput). Needs
//    wal_level=logical and a role with the REPLICATION privilege for init and relays.
enum class Mode { table, wal };
// "table", "wal".
std::string to_string(Mode mode);
// Inverse of to_string; throws UsageError naming the accepted values.
Mode parse_mode(const std::string& text);

struct OutboxOptions {
  // The mode `init` creates the outbox with. Once created, the stored mode wins: put(conn) reads it
  // on its first call and uses it; init refuses a different one. prepare_put, which has no
  // connection, uses the stored mode once this Outbox has seen it, this option before.
  Mode mode = Mode::table;
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
// In WAL mode the position is the LSN of the emitted WAL record, as a number (the end of the
// record, which is also what a tail reports for the message): unique and growing in WAL order,
// not in commit order.
struct PutStatement {
  std::string sql;
  std::vector<std::optional<std::string>> params;
};

class Outbox;
namespace detail {
class PutStatements;  // what every put of one outbox sends alike, composed once
}

// Puts that ride with the COMMIT, for code written against a writer (MessageSet::put of typed
// messages, outbox/typed.hpp): put() validates the message and keeps its statement, sending
// nothing (ValidationError: nothing kept, the transaction untouched); commit() is
// Outbox::put_and_commit of everything kept, with the same outcomes, and empties the writer. A
// message put() returns has position 0: the positions are in what commit() returns. put() and
// commit() need the caller's open transaction (UsageError). What it keeps belongs to the
// transaction of its first put: if the caller ends that one otherwise (ROLLBACK, or a COMMIT of its
// own), the next put() or commit() drops the kept puts and throws UsageError, sending nothing, so
// they never go out in another transaction (seen on the client, without a round trip; the one end
// it cannot see is ROLLBACK AND CHAIN). A writer emptied by commit() serves the next transaction.
// Holds pointers to the outbox and the connection, which must outlive it.
class CommitWriter {
 public:
  Message put(Message m);
  std::vector<Message> commit();
  std::size_t size() const noexcept { return messages_.size(); }

 private:
  friend class Outbox;
  CommitWriter(const Outbox& outbox, PGconn* conn) : outbox_(&outbox), conn_(conn) {}
  const Message& keep(Message m);  // validates m and keeps it and its statement
  void drop_if_transaction_ended();
  std::vector<Message> send();  // the kept puts and COMMIT; empties the writer
  void forget() noexcept;       // empties the writer
  const Outbox* outbox_;
  PGconn* conn_;
  std::vector<Message> messages_;
  std::vector<const std::string*> names_;  // what each statement is prepared under (the outbox's)
  std::vector<PutStatement> statements_;
  std::uint64_t transaction_ = 0;  // the connection's transaction count at the first kept put
};

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
  // WAL mode: the bookkeeping tables, an empty publication and the logical replication slot of the
  // consumer "default" (pgoutput); refuses (UsageError) when the server runs without
  // wal_level=logical or the role lacks the REPLICATION privilege. Refuses a mode other than the
  // stored one.
  void init(PGconn* conn) const;
  // The same statements as text, for a migration tool (`outbox init --print-sql`).
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

  // put() of each message, then COMMIT of the caller's open transaction, all in one network round
  // trip (libpq pipeline mode; each statement prepared once per connection, as put's): a
  // transaction with puts then waits for no more round trips than one without. For code that
  // would otherwise call put() and then COMMIT; `conn` must be inside an open transaction and not
  // in pipeline mode (UsageError). Returns the messages with their positions, in order.
  //
  // Every outcome ends the transaction:
  //  - ValidationError: before anything is sent (of any message); the transaction stays open and
  //    usable, as with put();
  //  - returns: committed, business rows and messages together;
  //  - StoreError: a put or the COMMIT failed (a key lock's timeout, a deferred constraint, a
  //    serialization failure): nothing was committed, the transaction is rolled back and the
  //    connection is usable; retryable() says whether running the transaction again may succeed;
  //  - CommitInDoubt: the connection broke once COMMIT was on its way: it may have committed.
  std::vector<Message> put_and_commit(PGconn* conn, std::vector<Message> messages) const;
  Message put_and_commit(PGconn* conn, Message m) const;
  // The same for typed messages: OrderEvents::put(w, value, key) on `w`, then w.commit().
  CommitWriter commit_writer(PGconn* conn) const { return CommitWriter(*this, conn); }

  // What put() sends, without sending it: validates `m` (ValidationError before anything is
  // sent), fills its id and created time, and returns the statement. The caller must run it inside
  // its open transaction, exactly once, and read the position from the result.
  PutStatement prepare_put(Message& m) const;
  // put() on `conn`, as an object (see Writer).
  Writer writer(PGconn* conn) const { return Writer(*this, conn); }

  const std::string& name() const noexcept { return name_; }
  const SchemaRegistry& registry() const noexcept { return registry_; }
  // The mode puts use: the stored one once seen (init or a put(conn)), else OutboxOptions::mode.
  Mode mode() const noexcept;

 private:
  friend class CommitWriter;
  Mode learn_mode(PGconn* conn) const;

  std::string name_;
  SchemaRegistry registry_;
  OutboxOptions options_;
  // Never null; shared by copies (it depends only on the name and options).
  std::shared_ptr<const detail::PutStatements> put_statements_;
  // The stored mode, once read. Atomic: puts from several threads may share an Outbox; a mode
  // never changes after init, so racing readers store the same value. Copyable (Outbox is).
  class CachedMode {
   public:
    CachedMode() = default;
    CachedMode(const CachedMode& other) : value_(other.value_.load()) {}
    CachedMode& operator=(const CachedMode& other) {
      value_.store(other.value_.load());
      return *this;
    }
    std::optional<Mode> get() const {
      const int v = value_.load(std::memory_order_acquire);
      return v < 0 ? std::nullopt : std::optional<Mode>(static_cast<Mode>(v));
    }
    void set(Mode mode) const { value_.store(static_cast<int>(mode), std::memory_order_release); }

   private:
    mutable std::atomic<int> value_{-1};
  };
  CachedMode stored_mode_;
};

// The SQL that `Outbox::init` runs for `outbox` (checked with check_identifier) in `mode`.
std::string init_sql(const std::string& outbox, Mode mode = Mode::table);

// The relay/CLI side: a Store over connections of its own. `conninfo` is a `postgresql://` or
// `postgres://` URI or a libpq key=value string; PG* environment variables and ~/.pgpass apply as
// in libpq. A URI may carry `outboxMode=table|wal` (removed before libpq sees it): the mode `init`
// creates an outbox with; elsewhere it must match the stored mode (default: the stored mode).
std::unique_ptr<Store> open(const std::string& conninfo, const StoreOptions& options = {});

extern const StoreScheme store_scheme;  // postgresql://... and conninfo strings, for the scheme table

}  // namespace outbox::postgres

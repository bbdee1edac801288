// The statement a put sends, in both modes. What is the same for every put into one outbox (the
// SQL text of each variant, the name it is prepared under, the wake-up lock's parameters, the WAL
// prefix, the words of its errors) is composed once per outbox, not per put: composing it on every
// put was about a fifth of the client CPU spent building a typed put (perf of
// bench/postgres_write.cpp with four clients; docs/benchmarks.md).
#pragma once

#include <string>

#include "connection.hpp"
#include "outbox/message.hpp"
#include "outbox/postgres.hpp"
#include "outbox/schema.hpp"

namespace outbox::postgres::detail {

class PutStatements {
 public:
  // `outbox` must have passed check_outbox_name. `wake_relay`: table-mode puts also wake a sleeping
  // tail (see WakeLock in tables.hpp).
  PutStatements(const std::string& outbox, bool wake_relay);

  // Validates `m` (ValidationError before anything is sent), completes its envelope (id, created
  // time) and returns the statement that writes it in `mode`:
  //  - table: one INSERT into the message table, after the key's advisory lock for a message with
  //    a key (lock and insert are one statement); returns the position;
  //  - wal: pg_logical_emit_message(true, 'outbox:<name>', <payload>), so the message is decoded
  //    only if and when the transaction commits, at its place in commit order; no table, index,
  //    lock or wake-up; returns the record's LSN (its end, as a tail reports it) as a bigint.
  PutStatement statement(Mode mode, const SchemaRegistry& registry, Message& m) const;
  // The name that statement is prepared under on a connection: one per outbox and table-mode
  // variant (with or without key lock; with or without wake-up), since their SQL differs; one for
  // every WAL-mode outbox (the prefix is a parameter).
  const std::string& name(Mode mode, const Message& m) const;

  // What a put is doing, for its errors: "put into outbox '<name>'" and "... and COMMIT".
  const std::string& doing_put() const noexcept { return doing_put_; }
  const std::string& doing_put_and_commit() const noexcept { return doing_put_and_commit_; }

 private:
  std::string outbox_;
  bool wake_relay_;
  std::string keyed_sql_, unkeyed_sql_;                  // table mode
  std::string keyed_name_, unkeyed_name_;                // table mode
  std::string wake_class_, wake_object_, wake_channel_;  // with wake_relay
  std::string wal_sql_, wal_name_, wal_prefix_;
  std::string doing_put_, doing_put_and_commit_;
};

// The put on `conn`, inside the caller's open transaction (UsageError otherwise), its statement
// prepared once per connection; sets m.position (m.checkpoint stays empty: only a tail knows its
// snapshots). A failed statement aborts the caller's transaction (StoreError).
void put_in_transaction(PGconn* conn, const PutStatements& statements, Mode mode, const SchemaRegistry& registry,
                        Message& m);

}  // namespace outbox::postgres::detail

// The put of WAL mode: one logical decoding message in the caller's transaction.
#pragma once

#include <string>

#include "outbox/postgres.hpp"
#include "outbox/schema.hpp"

namespace outbox::postgres::detail {

// The name the put's statement is prepared under on a connection: the same statement for every
// outbox (the prefix is a parameter).
inline constexpr const char* kWalPutStatementName = "obx_wal_put";

// Validates `m`, completes its envelope and returns the statement that emits it. No table, no
// index, no lock, no wake-up (relays stream from the WAL): pg_logical_emit_message with
// transactional = true, so the message is decoded only if and when the transaction commits, at
// its place in commit order. The statement returns the LSN of the record (its end, as a tail
// reports it) as a bigint: the message's position.
PutStatement wal_put_statement(const std::string& outbox, const SchemaRegistry& registry, Message& m);

// wal_put_statement run on `conn`, inside its open transaction (UsageError otherwise); sets m.position.
void wal_put(PGconn* conn, const std::string& outbox, const SchemaRegistry& registry, Message& m);

}  // namespace outbox::postgres::detail

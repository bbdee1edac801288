// WAL mode's names, DDL, payload and checkpoint formats (see docs/postgres.md, "WAL mode").
//
// An outbox in WAL mode has no message table: a put is one WAL record written by
// pg_logical_emit_message(true, 'outbox:<name>', <payload>) in the caller's transaction. Each
// consumer reads them through its own logical replication slot (pgoutput), which the server
// decodes in commit order and keeps WAL for until the consumer confirms it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "outbox/message.hpp"
#include "outbox/postgres.hpp"

namespace outbox::postgres::detail {

// The prefix of the outbox's logical decoding messages: "outbox:<name>".
std::string wal_prefix(const std::string& outbox);
// The (empty) publication pgoutput needs to be named: "outbox_<name>".
std::string publication_name(const std::string& outbox);
// The replication slot of one consumer: "outbox_<outbox>_<consumer>", cut to fit 63 bytes, then
// "_" and 8 hex digits of a hash of both names (so that "a_b"/"c" and "a"/"b_c" differ).
std::string slot_name(const std::string& outbox, const std::string& consumer);

// The stored mode of `outbox` (nullopt: no such outbox). Works on databases made before modes
// existed (no column: table mode).
std::optional<Mode> read_mode(PGconn* conn, const std::string& outbox);

// The DDL of WAL mode: bookkeeping tables and settings row, the publication, then (outside the
// transaction: a slot cannot be created in one that wrote) the slot of consumer "default".
std::string wal_create_sql(const std::string& outbox);
// Refuses (UsageError) when the server cannot host a WAL-mode outbox: PostgreSQL before 14, no
// wal_level=logical, a role without the REPLICATION privilege.
void check_wal_capable(PGconn* conn, const std::string& outbox);
// Creates the slot of `consumer` if it is missing, as a copy of the slot of consumer "default"
// (so a new consumer starts where "default" stands, the oldest point the outbox still has), or new
// when there is none. Runs outside any transaction. Throws StoreError.
void ensure_slot(PGconn* conn, const std::string& outbox, const std::string& consumer);
// Refuses (UsageError) when the slot of (outbox, consumer) exists but belongs to another database:
// slot names are per cluster, so two databases with a WAL-mode outbox of one name would share
// (and fight over) its slots.
void check_slot_is_ours(PGconn* conn, const std::string& outbox, const std::string& consumer);

// The payload of one message: a compact JSON header {"v":1,"id","type","key","headers","created_us"},
// a newline, then the data's JSON text exactly as validated (so a tail hands sinks the same text).
std::string encode_payload(const Message& m, const std::string& data_json);
// Inverse of encode_payload; throws StoreError (not retryable) for a payload it cannot read.
Message decode_payload(std::string_view payload, const std::string& outbox, bool parse_data);

// "X/Y" as PostgreSQL prints an LSN, and back (nullopt when malformed).
std::string lsn_text(std::uint64_t lsn);
std::optional<std::uint64_t> parse_lsn(std::string_view text);

// A consumer's place in commit order: every transaction whose commit ends at or before `end` is
// passed; with `taken`, the transaction ending at `end` is passed only up to its `taken` first
// messages (the rest are not; those before `end` are).
struct WalCheckpoint {
  std::uint64_t end = 0;
  std::optional<std::uint32_t> taken;
  // The LSN up to which the slot may confirm (0: no advance). Nothing for a partly passed
  // transaction: the server must send it again in full, and the slot already stands at or before
  // the end of the transaction before it.
  std::uint64_t confirmable() const { return taken ? 0 : end; }
};
// "pgwal:X/Y" or "pgwal:X/Y+N".
std::string encode(const WalCheckpoint& c);
// Also takes the table mode's position checkpoints "pg:<snapshot>//N" (what checkpoint_before
// makes without knowing the mode): transactions ending at or before N are passed. Throws
// UsageError naming the expected form.
WalCheckpoint parse_wal_checkpoint(const std::string& text);

}  // namespace outbox::postgres::detail

namespace outbox::postgres::detail {

// SQL (in create_sql's transaction) that raises an error when `outbox` exists in another mode.
std::string mode_check_sql(const std::string& outbox, Mode mode);
// SQL (in create_sql's transaction) that creates the outbox's empty publication if missing.
std::string wal_publication_sql(const std::string& outbox);

}  // namespace outbox::postgres::detail

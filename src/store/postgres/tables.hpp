// Table layout and cursor encoding of the PostgreSQL store. Every outbox has its own message table
// "outbox_<name>" (position from an identity sequence, xid = pg_current_xact_id() of the writing
// transaction); the bookkeeping tables have names with "__", which no outbox name can produce.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "connection.hpp"
#include "outbox/message.hpp"
#include "outbox/postgres.hpp"
#include "outbox/schema.hpp"

namespace outbox::postgres::detail {

// Outbox names are limited to 50 characters here so that "outbox_<name>_created" fits in
// PostgreSQL's 63-byte identifiers. Throws UsageError.
void check_outbox_name(const std::string& outbox);

std::string message_table(PGconn* conn, const std::string& outbox);
// The idempotent DDL of one outbox in `mode`, as one transaction (BEGIN ... COMMIT). It fails
// (raising an error that names both modes) when the outbox exists in the other mode.
std::string create_sql(const std::string& outbox, Mode mode = Mode::table);

// Wake-ups without a NOTIFY per commit. NOTIFY makes every notifying transaction take one
// cluster-wide lock at commit, which costs writers throughput; so writers notify only while a
// tail is asleep. A tail about to sleep takes this advisory lock (session level, exclusive); every
// put tries it in shared mode until its transaction ends:
//  - the try succeeds (no tail asleep): no NOTIFY; the writer now holds the lock in shared mode, so
//    no tail can fall asleep until this transaction ends, and a tail that finds it taken polls;
//  - the try fails (a tail is asleep): the put also NOTIFYs, delivered when it commits.
// Hence a tail that got the lock and then re-read the outbox misses no commit: a transaction
// whose put came earlier had committed before (it would still hold the lock otherwise) and one
// whose put comes later notifies. The two-int form keeps these keys apart from the per-key locks
// (bigint form). Keys: (kWakeLockClass, 32-bit hash of the outbox name).
struct WakeLock {
  std::int32_t cls = 0;
  std::int32_t obj = 0;
};
WakeLock wake_lock(const std::string& outbox);
// The LISTEN/NOTIFY channel of an outbox: "outbox_<name>" (as pg_notify takes it, unquoted).
std::string wake_channel(const std::string& outbox);

// SELECT columns matching read_message().
inline constexpr const char* kMessageColumns = "position, id, type, key, data, headers, created_us";
Message read_message(const Result& r, int row, const std::string& outbox, bool parse_data = true);

// A cursor: everything visible in snapshot `lo` is passed; of the rows visible in `hi` but not in
// `lo` (the current batch), those with position <= `after` are passed. Without `hi` (a cursor made
// from a position), rows with position <= `after` are passed.
struct Checkpoint {
  std::string lo = "1:1:";  // '1:1:' sees no transaction at all: the beginning
  std::optional<std::string> hi;
  std::int64_t after = 0;
};
// "pg:<lo>/<hi>/<after>" ; parse throws UsageError naming the expected form.
std::string encode(const Checkpoint& c);
Checkpoint parse_checkpoint(const std::string& text);

// SQL condition "row is passed by the cursor", over columns xid and position, with the cursor's
// lo, hi (NULL when absent) and after as parameters $<first>, $<first+1>, $<first+2>.
std::string passed_sql(int first);
void bind(Params& params, const Checkpoint& c);

}  // namespace outbox::postgres::detail

// Table layout of the SQLite store. Every outbox has its own message table `outbox_<name>`; the
// store's bookkeeping lives in tables whose names contain "__", which no outbox name can produce.
#pragma once

#include <string>

#include "connection.hpp"
#include "outbox/message.hpp"
#include "outbox/schema.hpp"

namespace outbox::sqlite::detail {

// "outbox_<name>", quoted; `name` must have passed check_identifier.
std::string message_table(const std::string& outbox);

// The DDL of one outbox (idempotent). Positions are plain rowids, max(rowid) + 1, with no
// AUTOINCREMENT: its sqlite_sequence row cost every commit one more page (0.41 against 0.55 of the
// bare transaction at synchronous=NORMAL, docs/benchmarks.md). They still never repeat because
// retention never deletes the newest row (SqliteStore::enforce_retention). Tables made by earlier
// versions keep AUTOINCREMENT, which is harmless.
std::string create_sql(const std::string& outbox);

// INSERT of one message: ?1 id, ?2 type, ?3 key, ?4 data, ?5 headers, ?6 created_us.
std::string insert_sql(const std::string& outbox);

// Validates `m`, completes its envelope and inserts it with `insert` (prepared from insert_sql) on
// `db`, which must be inside an open transaction. Sets m.position and m.checkpoint.
void insert_message(sqlite3* db, Statement& insert, const std::string& outbox, const SchemaRegistry& registry,
                    Message& m);

// SELECT columns matching read_message().
inline constexpr const char* kMessageColumns = "position, id, type, key, data, headers, created_us";
Message read_message(const Statement& row, const std::string& outbox, bool parse_data = true);

}  // namespace outbox::sqlite::detail

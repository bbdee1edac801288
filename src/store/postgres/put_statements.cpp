#include "put_statements.hpp"

#include "outbox/errors.hpp"
#include "outbox/prepare_put.hpp"
#include "tables.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres::detail {

PutStatements::PutStatements(const std::string& outbox, bool wake_relay)
    : outbox_(outbox),
      wake_relay_(wake_relay),
      // One statement for every WAL-mode outbox: the prefix is a parameter. pg_lsn - pg_lsn is
      // numeric: the LSN as a number fits a bigint (WAL positions stay below 2^63).
      wal_sql_("SELECT (pg_logical_emit_message(true, $1::text, $2::text) - '0/0'::pg_lsn)::bigint"),
      wal_name_("obx_wal_put"),
      wal_prefix_(wal_prefix(outbox)),
      doing_put_("put into outbox '" + outbox + "'"),
      doing_put_and_commit_(doing_put_ + " and COMMIT") {
  // No connection to quote the table name with: quoted by hand, which is exact for checked names.
  const std::string t = message_table(nullptr, outbox);
  // The key lock first, then the position: a later transaction of this key waits here until this
  // one commits, so it draws a higher position and commits later. One statement, one round trip.
  keyed_sql_ = "WITH l AS (SELECT pg_advisory_xact_lock($7::bigint) AS locked) INSERT INTO " + t +
               " (xid, id, type, key, data, headers, created_us) SELECT pg_current_xact_id(), $1::text, $2::text,"
               " $3::text, $4::text, $5::text, $6::bigint FROM l RETURNING position";
  unkeyed_sql_ = "INSERT INTO " + t +
                 " (xid, id, type, key, data, headers, created_us) VALUES (pg_current_xact_id(), $1::text, $2::text,"
                 " $3::text, $4::text, $5::text, $6::bigint) RETURNING position";
  const std::string w = wake_relay ? "w" : "";
  keyed_name_ = "obx_put_" + outbox + "_k" + w;
  unkeyed_name_ = "obx_put_" + outbox + "_n" + w;
  if (wake_relay) {
    // Still the same statement: RETURNING runs once, for the one row (see WakeLock). pg_notify
    // returns void, hence the cast to give CASE one type. Its parameters follow the row's (6, and
    // the key's lock for a keyed put).
    auto wake_up = [](int first) {
      return ", CASE WHEN pg_try_advisory_xact_lock_shared($" + std::to_string(first) + "::int, $" +
             std::to_string(first + 1) + "::int) THEN '' ELSE pg_notify($" + std::to_string(first + 2) +
             "::text, '')::text END";
    };
    keyed_sql_ += wake_up(8);
    unkeyed_sql_ += wake_up(7);
    const WakeLock lock = wake_lock(outbox);
    wake_class_ = std::to_string(lock.cls);
    wake_object_ = std::to_string(lock.obj);
    wake_channel_ = wake_channel(outbox);
  }
}

PutStatement PutStatements::statement(Mode mode, const SchemaRegistry& registry, Message& m) const {
  const std::string& data = prepare_put(outbox_, registry, m);  // throws before anything is sent
  PutStatement st;
  if (mode == Mode::wal) {
    st.sql = wal_sql_;
    st.params = {wal_prefix_, encode_payload(m, data)};
    return st;
  }
  std::optional<std::string> headers;
  if (!m.headers.empty()) headers = headers_json(m.headers);
  st.sql = m.key ? keyed_sql_ : unkeyed_sql_;
  auto& p = st.params;
  p.reserve(10);
  p.emplace_back(m.id);
  p.emplace_back(m.type);
  p.emplace_back(m.key);
  p.emplace_back(data);
  p.emplace_back(std::move(headers));
  p.emplace_back(std::to_string(m.created.time_since_epoch().count()));
  if (m.key) p.emplace_back(std::to_string(lock_key(outbox_, *m.key)));
  if (wake_relay_) {
    p.push_back(wake_class_);
    p.push_back(wake_object_);
    p.push_back(wake_channel_);
  }
  return st;
}

const std::string& PutStatements::name(Mode mode, const Message& m) const {
  if (mode == Mode::wal) return wal_name_;
  return m.key ? keyed_name_ : unkeyed_name_;
}

void put_in_transaction(PGconn* conn, const PutStatements& statements, Mode mode, const SchemaRegistry& registry,
                        Message& m) {
  const auto ts = PQtransactionStatus(conn);
  if (ts != PQTRANS_INTRANS) {
    throw UsageError(ts == PQTRANS_INERROR
                         ? "put: the caller's transaction has already failed; roll it back"
                         : "put must run inside the caller's open transaction (BEGIN ... COMMIT), so that the "
                           "message commits or rolls back with the business rows");
  }
  const PutStatement st = statements.statement(mode, registry, m);
  // Prepared once per connection: parsing and planning the statement on every call was most of
  // put's own cost (270 vs 101 us per call in bench/postgres_write.cpp).
  Result r = exec_prepared(conn, statements.name(mode, m), st.sql, st.params, statements.doing_put());
  m.position = r.int64(0, 0);
}

}  // namespace outbox::postgres::detail

#include "wal_put.hpp"

#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/prepare_put.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres::detail {

PutStatement wal_put_statement(const std::string& outbox, const SchemaRegistry& registry, Message& m) {
  const std::string& data = prepare_put(outbox, registry, m);  // throws before anything is sent
  PutStatement st;
  // pg_lsn - pg_lsn is numeric: the LSN as a number fits a bigint (WAL positions stay below 2^63).
  st.sql = "SELECT (pg_logical_emit_message(true, $1::text, $2::text) - '0/0'::pg_lsn)::bigint";
  st.params = {wal_prefix(outbox), encode_payload(m, data)};
  return st;
}

void wal_put(PGconn* conn, const std::string& outbox, const SchemaRegistry& registry, Message& m) {
  const auto ts = PQtransactionStatus(conn);
  if (ts != PQTRANS_INTRANS) {
    throw UsageError(ts == PQTRANS_INERROR
                         ? "put: the caller's transaction has already failed; roll it back"
                         : "put must run inside the caller's open transaction (BEGIN ... COMMIT), so that the "
                           "message commits or rolls back with the business rows");
  }
  const PutStatement st = wal_put_statement(outbox, registry, m);
  // Prepared once per connection.
  Result r = exec_prepared(conn, kWalPutStatementName, st.sql, st.params, "put into outbox '" + outbox + "'");
  m.position = r.int64(0, 0);
}

}  // namespace outbox::postgres::detail

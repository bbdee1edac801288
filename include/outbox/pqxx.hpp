// The PostgreSQL store's write side for libpqxx users: put inside a pqxx transaction, on the
// same connection and in the same transaction as the business rows.
//
// Header-only on purpose: it compiles in the application against the application's own libpqxx
// (6.4 as in Debian 12, or 7.x), so the outbox library itself needs no libpqxx. It sends exactly
// what Outbox::put sends (Outbox::prepare_put), as bound parameters.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/postgres.hpp"

namespace outbox::postgres {

// Validates `m` (ValidationError before anything is sent; the transaction stays usable), then
// inserts it in `tx`. Database errors surface as StoreError (retryable for connection loss,
// serialization failures and deadlocks); as with any failed statement in PostgreSQL, the
// transaction is then aborted: let pqxx roll it back and retry the whole transaction.
inline Message put(const Outbox& outbox, pqxx::transaction_base& tx, Message m) {
  const PutStatement statement = outbox.prepare_put(m);
  std::vector<const char*> values;  // libpqxx sends a null pointer as SQL NULL
  values.reserve(statement.params.size());
  for (const auto& p : statement.params) values.push_back(p ? p->c_str() : nullptr);
  try {
    const pqxx::result r = tx.exec_params(statement.sql, pqxx::prepare::make_dynamic_params(values));
    m.position = r[0][0].as<std::int64_t>();
  } catch (const pqxx::broken_connection& e) {
    throw StoreError(
        std::string("postgres: put into outbox '") + outbox.name() + "' failed: the connection broke: " + e.what(),
        true);
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    const bool retry = state.rfind("08", 0) == 0 || state == "40001" || state == "40P01" || state.rfind("53", 0) == 0 ||
                       state.rfind("57P", 0) == 0;
    throw StoreError("postgres: put into outbox '" + outbox.name() + "' failed [" + state + "]: " + e.what() +
                         " (the transaction is aborted: roll it back" + (retry ? " and retry it)" : ")"),
                     retry);
  }
  return m;
}

}  // namespace outbox::postgres

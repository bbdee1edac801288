// The write side: runs on the caller's connection and transaction.
#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/postgres.hpp"
#include "tables.hpp"

namespace outbox::postgres {

std::string init_sql(const std::string& outbox) { return detail::create_sql(outbox); }

Outbox::Outbox(std::string name, SchemaRegistry registry, OutboxOptions options)
    : name_(std::move(name)), registry_(std::move(registry)), options_(options) {
  detail::check_outbox_name(name_);
}

std::string Outbox::init_sql() const { return detail::create_sql(name_); }

void Outbox::init(PGconn* conn) const {
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    throw UsageError("init must run outside a transaction (it runs one of its own)");
  }
  try {
    detail::exec_script(conn, init_sql(), "init of outbox '" + name_ + "'");
  } catch (...) {
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      PQclear(PQexec(conn, "ROLLBACK"));
    }
    throw;
  }
}

PutStatement Outbox::prepare_put(Message& m) const {
  return detail::put_statement(name_, registry_, m, options_.wake_relay);
}

Message Outbox::put(PGconn* conn, Message m) const {
  detail::insert_message(conn, name_, registry_, m, options_.wake_relay);
  return m;
}

Message Writer::put(Message m) { return outbox_->put(conn_, std::move(m)); }

}  // namespace outbox::postgres

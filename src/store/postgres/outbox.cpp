// The write side: runs on the caller's connection and transaction.
#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/postgres.hpp"
#include "put_and_commit.hpp"
#include "put_statements.hpp"
#include "tables.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres {

std::string init_sql(const std::string& outbox, Mode mode) {
  return mode == Mode::wal ? detail::wal_create_sql(outbox) : detail::create_sql(outbox);
}

Outbox::Outbox(std::string name, SchemaRegistry registry, OutboxOptions options)
    : name_(std::move(name)), registry_(std::move(registry)), options_(options) {
  detail::check_outbox_name(name_);
  put_statements_ = std::make_shared<const detail::PutStatements>(name_, options_.wake_relay);
}

std::string Outbox::init_sql() const { return postgres::init_sql(name_, options_.mode); }

Mode Outbox::mode() const noexcept { return stored_mode_.get().value_or(options_.mode); }

Mode Outbox::learn_mode(PGconn* conn) const {
  if (auto m = stored_mode_.get()) return *m;
  const auto stored = detail::read_mode(conn, name_);
  if (!stored) {
    throw UsageError("outbox '" + name_ + "' does not exist in this database; create it first (Outbox::init)");
  }
  stored_mode_.set(*stored);
  return *stored;
}

void Outbox::init(PGconn* conn) const {
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    throw UsageError("init must run outside a transaction (it runs one of its own)");
  }
  const std::string doing = "init of outbox '" + name_ + "'";
  // First what the server allows: a role without privileges may not even read the outbox list.
  if (options_.mode == Mode::wal) {
    detail::check_wal_capable(conn, name_);
    detail::check_slot_is_ours(conn, name_, "default");  // before anything is created here
  }
  if (const auto stored = detail::read_mode(conn, name_); stored && *stored != options_.mode) {
    throw UsageError("outbox '" + name_ + "' exists in " + to_string(*stored) + " mode; it cannot be " +
                     to_string(options_.mode) + " too. Use the " + to_string(*stored) +
                     " mode (OutboxOptions::mode, or outboxMode in a store URI) or a new outbox name");
  }
  try {
    detail::exec_script(conn, detail::create_sql(name_, options_.mode), doing);
  } catch (...) {
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      PQclear(PQexec(conn, "ROLLBACK"));
    }
    throw;
  }
  if (options_.mode == Mode::wal) detail::ensure_slot(conn, name_, "default");
  stored_mode_.set(options_.mode);
}

PutStatement Outbox::prepare_put(Message& m) const { return put_statements_->statement(mode(), registry_, m); }

Message Outbox::put(PGconn* conn, Message m) const {
  // Outside a usable transaction the mode is not read (that would fail or commit on its own): the
  // put below refuses with the reason.
  const bool usable = PQtransactionStatus(conn) == PQTRANS_INTRANS;
  detail::put_in_transaction(conn, *put_statements_, usable ? learn_mode(conn) : mode(), registry_, m);
  return m;
}

namespace {

// put_and_commit needs the caller's open, unfailed transaction.
void require_open_transaction(PGconn* conn, const std::string& doing) {
  const auto ts = PQtransactionStatus(conn);
  if (ts != PQTRANS_INTRANS) {
    throw UsageError(ts == PQTRANS_INERROR ? doing + ": the caller's transaction has already failed; roll it back"
                                           : doing + " must run inside the caller's open transaction (after BEGIN)");
  }
}

}  // namespace

Message CommitWriter::put(Message m) {
  require_open_transaction(conn_, outbox_->put_statements_->doing_put_and_commit());
  drop_if_transaction_ended();
  if (messages_.empty()) transaction_ = detail::transaction_boundaries(conn_);
  return keep(std::move(m));
}

const Message& CommitWriter::keep(Message m) {
  const detail::PutStatements& put = *outbox_->put_statements_;
  const Mode mode = outbox_->learn_mode(conn_);
  // Validated now (a typed message's origin is valid only during this call), sent by send().
  PutStatement st = put.statement(mode, outbox_->registry_, m);
  m.typed_origin.reset();  // it points at the caller's value
  names_.push_back(&put.name(mode, m));
  statements_.push_back(std::move(st));
  messages_.push_back(std::move(m));
  return messages_.back();
}

void CommitWriter::drop_if_transaction_ended() {
  if (messages_.empty() || detail::transaction_boundaries(conn_) == transaction_) return;
  const std::size_t kept = messages_.size();
  forget();
  throw UsageError(outbox_->put_statements_->doing_put_and_commit() + ": the transaction in which this writer's " +
                   std::to_string(kept) +
                   " kept put(s) were made has ended (ROLLBACK, or a COMMIT not sent by commit()); they were dropped "
                   "and nothing was sent. Put the messages again in the transaction open now, or use one writer per "
                   "transaction");
}

void CommitWriter::forget() noexcept {
  messages_.clear();
  names_.clear();
  statements_.clear();
}

std::vector<Message> CommitWriter::commit() {
  require_open_transaction(conn_, outbox_->put_statements_->doing_put_and_commit());
  drop_if_transaction_ended();
  return send();
}

std::vector<Message> CommitWriter::send() {
  std::vector<detail::NamedPut> puts;
  puts.reserve(statements_.size());
  for (std::size_t i = 0; i < statements_.size(); ++i) puts.push_back({names_[i], std::move(statements_[i])});
  std::vector<Message> messages = std::move(messages_);
  forget();
  const auto positions = detail::put_and_commit(conn_, puts, outbox_->put_statements_->doing_put_and_commit());
  for (std::size_t i = 0; i < messages.size(); ++i) messages[i].position = positions[i];
  return messages;
}

std::vector<Message> Outbox::put_and_commit(PGconn* conn, std::vector<Message> messages) const {
  // Every message is checked before anything is sent: a refused one leaves the transaction open.
  // Kept and sent within this call, so no transaction can end in between: no watch needed.
  require_open_transaction(conn, put_statements_->doing_put_and_commit());
  CommitWriter writer(*this, conn);
  for (auto& m : messages) writer.keep(std::move(m));
  return writer.send();
}

Message Outbox::put_and_commit(PGconn* conn, Message m) const {
  std::vector<Message> one;
  one.push_back(std::move(m));
  return std::move(put_and_commit(conn, std::move(one)).front());
}

Message Writer::put(Message m) { return outbox_->put(conn_, std::move(m)); }

}  // namespace outbox::postgres

// The write side of the MongoDB store: runs on the caller's client (or session).
#include <spdlog/spdlog.h>

#include "client.hpp"
#include "layout.hpp"
#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/prepare_put.hpp"
#include "store/mongodb/driver.hpp"
#include "store/mongodb/transactional_put.hpp"

namespace outbox::mongodb {

std::string to_string(Mode mode) {
  switch (mode) {
    case Mode::transactional:
      return "transactional";
    case Mode::poll:
      return "poll";
    case Mode::capped:
      return "capped";
  }
  return "?";
}

Mode parse_mode(const std::string& text) {
  if (text == "transactional") return Mode::transactional;
  if (text == "poll") return Mode::poll;
  if (text == "capped") return Mode::capped;
  throw UsageError("unknown MongoDB outbox mode '" + text + "'; use transactional, poll or capped");
}

Outbox::Outbox(std::string database, std::string name, SchemaRegistry registry, OutboxOptions options)
    : database_(std::move(database)), name_(std::move(name)), registry_(std::move(registry)), options_(options) {
  detail::check_outbox_name(name_);
  if (database_.empty()) throw UsageError("MongoDB outbox '" + name_ + "': the database name is empty");
}

void Outbox::init(mongoc_client_t* client, const OutboxOptions& options) const {
  const auto caps = detail::detect_capabilities(client, "the server");
  detail::init_outbox(client, database_, name_, options, caps, "the server");
}

Message Outbox::put(mongoc_client_session_t* session, Message m) const {
  if (session == nullptr) throw UsageError("put: the mongoc_client_session_t* is null");
  prepare_put(name_, registry_, m);
  // The transaction's own client; the driver only borrows it.
  auto driver = libmongoc_driver(mongoc_client_session_get_client(session));
  put_in_transaction(*driver, session, database_, detail::message_collection(name_), m);
  return m;  // no position: the change stream assigns one in commit order
}

Message Outbox::put(mongoc_client_t* client, Message m) const {
  if (client == nullptr) throw UsageError("put: the mongoc_client_t* is null");
  prepare_put(name_, registry_, m);
  auto mode = mode_.get();
  if (!mode) {
    const auto settings = detail::read_settings(client, database_, name_);
    if (!settings) {
      throw UsageError("outbox '" + name_ + "' does not exist in database '" + database_ +
                       "'; create it with `outbox init` (or Outbox::init)");
    }
    mode = settings->mode;
    mode_.set(*mode);
  }
  if (*mode == Mode::transactional) {
    throw UsageError("outbox '" + name_ +
                     "' is in transactional mode: put(mongoc_client_session_t*, ...) inside the "
                     "caller's transaction, so the message commits with the business writes");
  }
  m.position = detail::insert_with_position(client, database_, name_, m);
  return m;
}

Message Writer::put(Message m) {
  return session_ != nullptr ? outbox_->put(session_, std::move(m)) : outbox_->put(client_, std::move(m));
}

}  // namespace outbox::mongodb

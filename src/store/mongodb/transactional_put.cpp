#include "store/mongodb/transactional_put.hpp"

#include "outbox/errors.hpp"

namespace outbox::mongodb {

namespace {
constexpr std::int32_t kWriteConflict = 112;
constexpr std::int32_t kDuplicateKey = 11000;
}  // namespace

void put_in_transaction(Driver& driver, mongoc_client_session_t* session, const std::string& database,
                        const std::string& collection, const Message& m) {
  const std::string where = "outbox '" + m.outbox + "' (" + database + "." + collection + ")";
  if (session == nullptr) {
    throw UsageError(where + ": put needs the mongoc_client_session_t* of your transaction, got null");
  }
  if (!driver.in_transaction(session)) {
    throw UsageError(where +
                     ": put needs a started transaction on the session: call "
                     "mongoc_client_session_start_transaction first (or put inside "
                     "mongoc_client_session_with_transaction), so the message commits or aborts with your own writes");
  }
  const Bson doc = message_document(m);  // ValidationError before anything is sent
  const auto error = driver.insert_one(session, database, collection, *doc);
  if (!error) return;

  const std::string detail = "code " + std::to_string(error->code) + ": " + error->message;
  // Inside a transaction the drivers label network errors TransientTransactionError as well; an
  // unlabelled one is treated the same, since the whole transaction can only be retried.
  if (error->has_label("TransientTransactionError") || error->code == kWriteConflict ||
      error->kind == DriverError::Kind::network) {
    throw StoreError(where + ": insert of message " + m.id + " hit a transient transaction error (" + detail +
                         "); abort and retry the whole transaction (mongoc_client_session_with_transaction "
                         "retries it for you)",
                     true);
  }
  if (error->code == kDuplicateKey) {
    throw StoreError(where + ": a message with id " + m.id + " exists already (duplicate _id; " + detail +
                         "); the server aborted the transaction. Give each new message a new id (leave it empty "
                         "for put to assign one)",
                     false);
  }
  throw StoreError(
      where + ": insert of message " + m.id + " failed (" + detail + "); the server aborted the transaction", false);
}

}  // namespace outbox::mongodb

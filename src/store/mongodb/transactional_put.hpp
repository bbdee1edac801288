// The transactional mode's write: one insertOne into the outbox collection inside the caller's
// session and transaction, so the message commits or aborts with the caller's own writes.
#pragma once

#include <string>

#include "outbox/message.hpp"
#include "store/mongodb/driver.hpp"

namespace outbox::mongodb {

// Inserts message_document(m) into database.collection within `session`. `m` must already be
// validated, with id and created assigned (outbox::mongodb::Outbox::put does that first).
// Throws:
//   UsageError      - no session, or the session has no started transaction (nothing is sent);
//   ValidationError - data without a BSON form (nothing is sent);
//   StoreError retryable=true  - a transient transaction error (label TransientTransactionError,
//                     e.g. WriteConflict 112, or the connection broke): the server has aborted the
//                     transaction; abort it and retry the whole transaction;
//   StoreError retryable=false - a message with this id exists already (duplicate _id), or another
//                     server error; the transaction is aborted by the server.
void put_in_transaction(Driver& driver, mongoc_client_session_t* session, const std::string& database,
                        const std::string& collection, const Message& m);

}  // namespace outbox::mongodb

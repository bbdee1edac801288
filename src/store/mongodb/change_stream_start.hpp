// Where a transactional outbox's change stream starts: the start point of a tail, chosen from the
// relay's Cursor and the outbox's stored settings, and "now" as a checkpoint (seek --to end).
// Kept apart from MongoStore so that unit tests reach them without a server (none here has
// change streams).
#pragma once

#include <string>

#include "outbox/store.hpp"
#include "store/mongodb/change_stream_tail.hpp"
#include "store/mongodb/driver.hpp"
#include "store/mongodb/layout.hpp"

namespace outbox::mongodb {

// The start of a tail on a transactional outbox:
//   beginning            -> at the cluster time recorded at init, or now if none was recorded;
//   end                  -> now;
//   after a resume token -> resumeAfter that token;
//   after position 0     -> like beginning (the checkpoint `seek --to beginning` writes in any mode);
//   after any other position, or a malformed checkpoint -> UsageError naming `outbox`.
ChangeStreamStart change_stream_start(const Cursor& from, const detail::Settings& settings, const std::string& outbox);

// A resume token for "now" on database.collection, without consuming any change event: it opens a
// change stream whose pipeline matches no event and whose initial batch is empty (batchSize 0),
// and takes the post-batch resume token of that empty batch. Should the driver have none cached
// after the initial aggregate, it calls next() once (bounded by maxAwaitTimeMS) and takes the
// token then; if that call returns an event, no token is returned (it would lie after an event no
// one has read). Throws StoreError: retryable when no token was given or the error is one a
// change stream may be retried after (is_resumable), not retryable otherwise. `outbox` names it
// in messages.
std::string resume_token_now(Driver& driver, const std::string& database, const std::string& collection,
                             const std::string& outbox);

}  // namespace outbox::mongodb

#include "store/mongodb/change_stream_start.hpp"

#include "outbox/errors.hpp"

namespace outbox::mongodb {

ChangeStreamStart change_stream_start(const Cursor& from, const detail::Settings& settings, const std::string& outbox) {
  if (from.kind == Cursor::Kind::end) return ChangeStreamStart::now();
  if (from.kind == Cursor::Kind::after) {
    if (!detail::is_position_checkpoint(from.checkpoint)) return ChangeStreamStart::resume_after(from.checkpoint);
    if (detail::parse_position_checkpoint(from.checkpoint) != 0) {
      throw UsageError("outbox '" + outbox +
                       "' is in transactional mode: its messages have no stored positions, "
                       "so a tail can start at the beginning, at the end or after a resume token, not at '" +
                       from.checkpoint + "'");
    }
    // Position 0 is "before everything" in every mode: fall through to the beginning.
  }
  if (settings.start_time_s != 0) {
    return ChangeStreamStart::at_operation_time(settings.start_time_s, settings.start_time_i);
  }
  // Outboxes created before init recorded a cluster time: "beginning" can only mean now.
  return ChangeStreamStart::now();
}

std::string resume_token_now(Driver& driver, const std::string& database, const std::string& collection,
                             const std::string& outbox) {
  const std::string where = "outbox '" + outbox + "' (change stream on " + database + "." + collection + ")";
  // {$match: {operationType: {$in: []}}} matches no event, so the server scans to the end of its
  // oplog and answers with an empty batch whose post-batch resume token is "now". It is what keeps
  // the initial batch empty with libmongoc before 1.25 (checked in its source), which does not send
  // batchSize 0 to the server; batchSize 0 asks for the same from the libmongoc versions that do.
  Bson pipeline(
      BCON_NEW("pipeline", "[", "{", "$match", "{", "operationType", "{", "$in", "[", "]", "}", "}", "}", "]"));
  Bson options(BCON_NEW("batchSize", BCON_INT32(0), "maxAwaitTimeMS", BCON_INT64(100)));
  auto stream = driver.watch(database, collection, *pipeline, *options);
  // libmongoc caches the post-batch resume token of an empty initial batch when the aggregate
  // returns; its documentation only promises a token once the stream was iterated, hence one
  // next() when none is cached yet.
  std::optional<Bson> token = stream->resume_token();
  if (!token) {
    if (stream->next() != nullptr) {
      throw StoreError("mongodb: " + where +
                           " returned a change event before giving a resume token for \"now\"; "
                           "no checkpoint was taken. Try again",
                       true);
    }
    if (auto e = stream->error()) {
      if (is_unsupported(*e)) throw StoreError("mongodb: " + unsupported_message(where, *e), false);
      throw StoreError("mongodb: opening a change stream on " + where + " failed (code " + std::to_string(e->code) +
                           ": " + e->message + ")",
                       is_resumable(*e));
    }
    token = stream->resume_token();
  }
  if (!token) {
    throw StoreError("mongodb: " + where +
                         " gave no resume token for \"now\" (the server sent no post-batch resume "
                         "token; change streams need MongoDB 4.0.7 or later). Try again",
                     true);
  }
  return canonical_extended_json(**token);
}

}  // namespace outbox::mongodb

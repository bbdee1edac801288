// Where the MongoDB store keeps things, and the operations shared by the write side (Outbox) and
// the relay side (Store): collection names, the outbox's stored settings, checkpoints of the
// position-based modes, init, and the position-taking insert.
//
// Collections (in the URI's database):
//   outbox_<name>         the messages (capped in capped mode); layout in bson.hpp, plus `pos`
//                         (and `message_id` in replayed dead letters, see replay_document())
//   outbox__outboxes      one document per outbox: {_id: name, mode, capped_size, capped_max,
//                         ttl_seconds, last_pos, last_dead_letter, dropped, created_us}
//   outbox__consumers     {_id: "<outbox>/<consumer>", outbox, consumer, checkpoint, owner,
//                         lease_until_ms, updated_us, health}
//   outbox__dead_letters  {_id: <int64 per outbox>, outbox, consumer, pos, message, error, attempts,
//                         failed_us}
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "client.hpp"
#include "outbox/mongodb.hpp"

namespace outbox::mongodb::detail {

inline const char* kOutboxes = "outbox__outboxes";
inline const char* kConsumers = "outbox__consumers";
inline const char* kDeadLetters = "outbox__dead_letters";

void check_outbox_name(const std::string& outbox);
inline std::string message_collection(const std::string& outbox) { return "outbox_" + outbox; }

// Checkpoints of the poll and capped modes: "mongodb:pos:N" = resume after position N.
std::string encode_position(std::int64_t after);
bool is_position_checkpoint(const std::string& checkpoint);
// Throws UsageError for anything else.
std::int64_t parse_position_checkpoint(const std::string& checkpoint);

struct Settings {
  Mode mode = Mode::transactional;
  std::int64_t capped_size = 0;
  std::optional<std::int64_t> capped_max;
  std::int64_t dropped = 0;
  // Transactional mode: the cluster time recorded at init (0 = none), where "beginning" starts.
  std::uint32_t start_time_s = 0, start_time_i = 0;
};
// The outbox's stored settings, or nothing if `init` has not created it.
std::optional<Settings> read_settings(mongoc_client_t* client, const std::string& database, const std::string& outbox);

// Creates everything the outbox needs (see Outbox::init). `caps` decides whether the mode can work.
void init_outbox(mongoc_client_t* client, const std::string& database, const std::string& outbox,
                 const OutboxOptions& options, const Capabilities& caps, const std::string& server_name);

// The poll/capped write: takes the next position and inserts the document with it. A position
// closed by a tail (tombstone, see docs/mongodb.md) makes the insert hit the unique index; then a
// new position is taken. Returns the position.
// `document_id`, when not empty, is the document's _id instead of the message's id (a replayed dead
// letter, whose original document may still be there): see replay_document().
std::int64_t insert_with_position(mongoc_client_t* client, const std::string& database, const std::string& outbox,
                                  const Message& m, const std::string& document_id = {});

// The document of a replayed message: _id `document_id` (unique per dead letter, so that a replay
// interrupted after its insert is recognised and not inserted twice) and the message's own id in
// `message_id`, which message_from_document() reads back as the id. Without `pos`.
Bson replay_document(const Message& m, const std::string& document_id);

// A tombstone: fills a position whose writer took it but did not insert in time.
bool is_tombstone(const bson_t& doc);
// Inserts a tombstone at `pos`; false if a document (the writer's, or another tail's tombstone)
// holds it already. Either way the position is filled exactly once (the unique index decides).
bool close_position(mongoc_client_t* client, const std::string& database, const std::string& outbox, std::int64_t pos);

}  // namespace outbox::mongodb::detail

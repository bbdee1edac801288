#include "layout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "outbox/errors.hpp"
#include "outbox/names.hpp"

namespace outbox::mongodb::detail {

void check_outbox_name(const std::string& outbox) {
  check_identifier(outbox, "outbox name");
  if (outbox.size() > 100) {
    throw UsageError("outbox name '" + outbox + "' is too long for a MongoDB collection name (at most 100 characters)");
  }
}

std::string encode_position(std::int64_t after) { return "mongodb:pos:" + std::to_string(after); }

bool is_position_checkpoint(const std::string& checkpoint) { return checkpoint.rfind("mongodb:pos:", 0) == 0; }

std::int64_t parse_position_checkpoint(const std::string& checkpoint) {
  static const std::regex form(R"(^mongodb:pos:(\d{1,18})$)");
  std::smatch m;
  if (!std::regex_match(checkpoint, m, form)) {
    throw UsageError("'" + checkpoint +
                     "' is not a checkpoint of a poll or capped MongoDB outbox (mongodb:pos:N); "
                     "use `outbox seek` to set one");
  }
  return std::stoll(m[1].str());
}

std::optional<Settings> read_settings(mongoc_client_t* client, const std::string& database, const std::string& outbox) {
  Collection outboxes(client, database, kOutboxes);
  Bson filter(BCON_NEW("_id", BCON_UTF8(outbox.c_str())));
  auto doc = outboxes.find_one(*filter, nullptr, "reading the settings of outbox '" + outbox + "'");
  if (!doc) return std::nullopt;
  Settings s;
  s.mode = parse_mode(get_string(**doc, "mode").value_or("transactional"));
  s.capped_size = get_int64(**doc, "capped_size");
  if (has_field(**doc, "capped_max") && get_int64(**doc, "capped_max") > 0)
    s.capped_max = get_int64(**doc, "capped_max");
  s.dropped = get_int64(**doc, "dropped");
  s.start_time_s = static_cast<std::uint32_t>(get_int64(**doc, "start_time_s"));
  s.start_time_i = static_cast<std::uint32_t>(get_int64(**doc, "start_time_i"));
  return s;
}

namespace {

bool has_code(const StoreError& e, std::uint32_t code) {
  return std::string(e.what()).find("." + std::to_string(code) + "]") != std::string::npos;
}

// Runs a create/createIndexes command; "already exists" is fine (init is idempotent).
void ensure(mongoc_client_t* client, const std::string& database, const bson_t& cmd, const std::string& doing) {
  try {
    command(client, database, cmd, doing);
  } catch (const StoreError& e) {
    if (!has_code(e, kNamespaceExists)) throw;
  }
}

// Creates an ordinary collection. A server without the `create` command (jongodb) creates
// collections on first use, as MongoDB 4.4+ does even inside a transaction: nothing is lost by
// leaving it to the first write there.
void ensure_collection(mongoc_client_t* client, const std::string& database, const std::string& collection) {
  Bson create(BCON_NEW("create", BCON_UTF8(collection.c_str())));
  try {
    ensure(client, database, *create, "creating collection " + collection);
  } catch (const StoreError& e) {
    if (!has_code(e, kCommandNotFound)) throw;
  }
}

void create_index(mongoc_client_t* client, const std::string& database, const std::string& collection, Bson key,
                  const char* name, bool unique, std::optional<std::int64_t> expire_after_seconds) {
  Bson index(BCON_NEW("name", BCON_UTF8(name)));
  BSON_APPEND_DOCUMENT(index.get(), "key", key.get());
  if (unique) BSON_APPEND_BOOL(index.get(), "unique", true);
  if (expire_after_seconds) BSON_APPEND_INT64(index.get(), "expireAfterSeconds", *expire_after_seconds);
  Bson cmd(BCON_NEW("createIndexes", BCON_UTF8(collection.c_str())));
  bson_t indexes;
  BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &indexes);
  BSON_APPEND_DOCUMENT(&indexes, "0", index.get());
  bson_append_array_end(cmd.get(), &indexes);
  ensure(client, database, *cmd, std::string("creating index ") + name + " on " + collection);
}

}  // namespace

void init_outbox(mongoc_client_t* client, const std::string& database, const std::string& outbox,
                 const OutboxOptions& options, const Capabilities& caps, const std::string& server_name) {
  check_outbox_name(outbox);
  if (options.mode == Mode::transactional && !(caps.transactions() && caps.change_streams())) {
    throw UsageError("outbox '" + outbox +
                     "': the transactional mode needs multi-document transactions and change "
                     "streams, which need a replica set or a sharded cluster; " +
                     server_name + " at " + caps.server + " has " +
                     (caps.ferretdb ? "neither (FerretDB implements no transactions and no change streams)"
                                    : "neither (a standalone server)") +
                     ". Use the poll mode (add ?outboxMode=poll to the store URI, or OutboxOptions::mode = "
                     "Mode::poll) or the capped mode (outboxMode=capped), or run MongoDB as a replica set");
  }
  if (options.mode == Mode::capped && options.capped_size_bytes <= 0) {
    throw UsageError("outbox '" + outbox + "': capped mode needs a positive collection size (outboxCappedSize)");
  }
  if (options.ttl && options.mode != Mode::transactional) {
    throw UsageError("outbox '" + outbox +
                     "': a TTL index (outboxTtlSeconds) is for the transactional mode only; in "
                     "poll mode the relay's retention deletes what every consumer passed (by count or age), "
                     "and a capped collection is its own limit");
  }
  const std::string doing = "init of outbox '" + outbox + "'";
  // The settings first: a concurrent init with another mode fails here, before creating anything.
  Collection outboxes(client, database, kOutboxes);
  {
    Bson filter(BCON_NEW("_id", BCON_UTF8(outbox.c_str())));
    Bson update(BCON_NEW("$setOnInsert", "{", "mode", BCON_UTF8(to_string(options.mode).c_str()), "capped_size",
                         BCON_INT64(options.mode == Mode::capped ? options.capped_size_bytes : 0), "capped_max",
                         BCON_INT64(options.mode == Mode::capped ? options.capped_max_documents.value_or(0) : 0),
                         "ttl_seconds", BCON_INT64(options.ttl ? options.ttl->count() : 0), "last_pos", BCON_INT64(0),
                         "last_dead_letter", BCON_INT64(0), "retired_to", BCON_INT64(0), "dropped", BCON_INT64(0),
                         "created_us", BCON_INT64(now().time_since_epoch().count()), "}"));
    outboxes.update_one(*filter, *update, true, doing);
  }
  const auto settings = read_settings(client, database, outbox);
  if (!settings) throw StoreError("mongodb: " + doing + ": the settings document vanished after it was written", true);
  if (settings->mode != options.mode) {
    throw UsageError("outbox '" + outbox + "' exists in " + to_string(settings->mode) + " mode; it cannot be " +
                     to_string(options.mode) + " too. Use outboxMode=" + to_string(settings->mode) +
                     " (or leave the option out), or a new outbox name");
  }
  const std::string coll = message_collection(outbox);
  if (options.mode == Mode::capped) {
    Bson create(BCON_NEW("create", BCON_UTF8(coll.c_str()), "capped", BCON_BOOL(true), "size",
                         BCON_INT64(options.capped_size_bytes)));
    if (options.capped_max_documents) BSON_APPEND_INT64(create.get(), "max", *options.capped_max_documents);
    try {
      ensure(client, database, *create, "creating collection " + coll);
    } catch (const StoreError& e) {
      if (!has_code(e, kCommandNotFound)) throw;
      throw UsageError("outbox '" + outbox + "': the capped mode needs a capped collection, and " + server_name +
                       " has no `create` command to make one (" + e.what() +
                       "). Use the poll mode (outboxMode=poll) or the transactional mode on this server");
    }
  } else {
    ensure_collection(client, database, coll);
  }
  for (const char* c : {kConsumers, kDeadLetters}) ensure_collection(client, database, c);
  if (options.mode != Mode::transactional) {
    // Unique: one document per position, so a tail can close a position its writer never filled
    // (the writer's later insert then fails and takes a new position; nothing is skipped).
    create_index(client, database, coll, Bson(BCON_NEW("pos", BCON_INT32(1))), "pos", true, std::nullopt);
  }
  if (options.ttl) {
    create_index(client, database, coll, Bson(BCON_NEW("created", BCON_INT32(1))), "created_ttl", false,
                 options.ttl->count());
  }
  if (options.mode == Mode::transactional) {
    // The cluster time the outbox's collection existed at: where a change stream "from the
    // beginning" starts (startAtOperationTime). Recorded once.
    Bson ping(BCON_NEW("ping", BCON_INT32(1)));
    Bson reply = command(client, database, *ping, doing);
    bson_iter_t it;
    if (bson_iter_init_find(&it, reply.get(), "operationTime") && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
      std::uint32_t t = 0, i = 0;
      bson_iter_timestamp(&it, &t, &i);
      Bson unset(BCON_NEW("_id", BCON_UTF8(outbox.c_str()), "start_time_s", "{", "$exists", BCON_BOOL(false), "}"));
      Bson set(BCON_NEW("$set", "{", "start_time_s", BCON_INT64(t), "start_time_i", BCON_INT64(i), "}"));
      outboxes.update_one(*unset, *set, false, doing);
    }
  }
  create_index(client, database, kDeadLetters, Bson(BCON_NEW("outbox", BCON_INT32(1), "seq", BCON_INT32(1))),
               "outbox_seq", false, std::nullopt);
}

bool is_tombstone(const bson_t& doc) { return has_field(doc, "tombstone"); }

bool close_position(mongoc_client_t* client, const std::string& database, const std::string& outbox, std::int64_t pos) {
  Collection messages(client, database, message_collection(outbox));
  Bson tombstone(BCON_NEW("_id", BCON_UTF8(("gap-" + std::to_string(pos)).c_str()), "pos", BCON_INT64(pos), "tombstone",
                          BCON_BOOL(true), "created_us", BCON_INT64(now().time_since_epoch().count())));
  return messages.insert_unless_duplicate(*tombstone,
                                          "closing position " + std::to_string(pos) + " of outbox '" + outbox + "'");
}

namespace {

// Step 3 of insert_with_position, once the message is in: `$max` is idempotent, so a failure that
// may pass is retried a few times. If it still fails, the message is written but this writer
// cannot tell whether retention retired its position meanwhile: a commit in doubt.
std::optional<Bson> raise_mark(const Collection& outboxes, const bson_t& filter, const bson_t& update,
                               const std::string& id, std::int64_t pos, const std::string& doing) {
  for (int attempt = 1;; ++attempt) {
    try {
      return outboxes.find_and_modify(filter, update, false, doing);
    } catch (const StoreError& e) {
      if (!e.retryable() || attempt == 5) {
        throw CommitInDoubt("mongodb: " + doing + ": the message '" + id + "' was written at position " +
                            std::to_string(pos) + ", but raising the outbox's high-water mark afterwards failed (" +
                            e.what() + "); it will most likely be delivered: look the id up before putting it again");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
    }
  }
}

// One attempt of insert_with_position. `retrying`: an earlier attempt of the same put failed, so a
// document with this id may be that attempt's (its answer was lost): it is the message, in place.
std::int64_t insert_attempt(mongoc_client_t* client, const std::string& database, const std::string& outbox,
                            const Message& m, const std::string& document_id, bool retrying) {
  Collection outboxes(client, database, kOutboxes);
  Collection messages(client, database, message_collection(outbox));
  const std::string doing = "put into outbox '" + outbox + "'";
  const std::string& doc_id = document_id.empty() ? m.id : document_id;
  const Bson base = document_id.empty() ? message_document(m) : replay_document(m, document_id);
  Bson settings_filter(BCON_NEW("_id", BCON_UTF8(outbox.c_str())));
  // 1. Where to start: after the high-water mark `last_pos` (a position known to be in use; it may
  //    lag behind the newest one, never run ahead) and after what retention retired.
  auto settings = outboxes.find_one(*settings_filter, nullptr, doing);
  if (!settings) {
    throw UsageError("outbox '" + outbox + "' does not exist in database '" + database +
                     "'; create it with `outbox init` (or Outbox::init)");
  }
  std::int64_t pos = std::max(get_int64(**settings, "last_pos"), get_int64(**settings, "retired_to")) + 1;
  for (int attempt = 1;; ++attempt, ++pos) {
    Bson doc = Bson::copy_of(*base);
    BSON_APPEND_INT64(doc.get(), "pos", pos);
    // 2. The unique index on `pos` makes the position ours, or refuses it: then it is in use (by
    //    another writer, or a tail's tombstone) and the next one is tried. Positions are filled from
    //    the bottom up and nothing is reserved, so a writer that dies leaves no hole.
    if (messages.insert_unless_duplicate(*doc, doing)) {
      // 3. Raise the high-water mark, and read `retired_to` after the insert: retention raises it
      //    before deleting what every consumer passed; if it retired this position meanwhile (the
      //    document that held it was delivered and deleted while this writer stalled), the message
      //    would sit behind every tail: take it back and go on above.
      Bson raise(BCON_NEW("$max", "{", "last_pos", BCON_INT64(pos), "}"));
      auto after = raise_mark(outboxes, *settings_filter, *raise, m.id, pos, doing);
      const std::int64_t retired = after ? get_int64(**after, "retired_to") : 0;
      if (retired < pos) return pos;
      Bson mine(BCON_NEW("_id", BCON_UTF8(doc_id.c_str()), "pos", BCON_INT64(pos)));
      messages.delete_many(*mine, doing);
      pos = retired;
    } else {
      Bson by_id(BCON_NEW("_id", BCON_UTF8(doc_id.c_str())));
      if (auto found = messages.find_one(*by_id, nullptr, doing)) {
        if (retrying) return get_int64(**found, "pos");
        throw StoreError("mongodb: " + doing + ": a message with id '" + doc_id +
                             "' is already there (written by an earlier attempt whose answer was lost?); nothing new "
                             "was written",
                         false);
      }
    }
    if (attempt >= 10000) {
      throw StoreError("mongodb: " + doing + ": no free position after 10000 attempts; try again", true);
    }
  }
}

}  // namespace

Bson replay_document(const Message& m, const std::string& document_id) {
  Message stored = m;
  stored.id = document_id;
  Bson doc = message_document(stored);
  BSON_APPEND_UTF8(doc.get(), "message_id", m.id.c_str());
  return doc;
}

std::int64_t insert_with_position(mongoc_client_t* client, const std::string& database, const std::string& outbox,
                                  const Message& m, const std::string& document_id) {
  // A put is its own operation here (no caller's transaction to retry), so a failure that may pass
  // (a network error, a server busy for a moment: FerretDB's "database is locked") is retried a
  // few times before the caller hears of it. Each step is safe to repeat: reads, an insert under
  // unique indexes, `$max`.
  constexpr int kAttempts = 6;
  for (int attempt = 1;; ++attempt) {
    try {
      return insert_attempt(client, database, outbox, m, document_id, attempt > 1);
    } catch (const CommitInDoubt&) {
      throw;
    } catch (const StoreError& e) {
      if (!e.retryable() || attempt == kAttempts) throw;
      spdlog::debug("put into outbox '{}' failed (attempt {} of {}), retrying: {}", outbox, attempt, kAttempts,
                    e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(10 << (attempt - 1)));
    }
  }
}

}  // namespace outbox::mongodb::detail

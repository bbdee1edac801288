#include "store/mongodb/change_stream_tail.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "outbox/errors.hpp"

namespace outbox::mongodb {

// ---- Start points and positions ----------------------------------------------------------------

ChangeStreamStart ChangeStreamStart::resume_after(const std::string& checkpoint) {
  // Parsed once here so that a bad checkpoint is refused before anything is sent.
  const Bson token = Bson::from_extended_json(checkpoint, "checkpoint '" + checkpoint + "'");
  if (bson_count_keys(token.get()) == 0) {
    throw UsageError("checkpoint '" + checkpoint +
                     "' is not a change-stream resume token (an empty document); "
                     "choose a restart point with `outbox seek`");
  }
  return {Kind::resume_after, canonical_extended_json(*token), 0, 0};
}

std::int64_t PositionSequence::next(std::uint32_t seconds, std::uint32_t increment) {
  constexpr std::int64_t kIncrementSpan = std::int64_t{1} << 31;
  const std::int64_t from_time =
      static_cast<std::int64_t>(seconds) * kIncrementSpan + std::min<std::int64_t>(increment, kIncrementSpan - 1);
  std::lock_guard lock(mutex_);
  last_ = std::max(from_time, last_ + 1);
  return last_;
}

std::int64_t PositionSequence::next() {
  std::lock_guard lock(mutex_);
  return ++last_;
}

// ---- Error classes ---------------------------------------------------------------------------

bool is_history_lost(const DriverError& error) {
  if (error.kind != DriverError::Kind::server) return false;
  return error.code == 286 || error.code == 280 ||
         error.message.find("resume point may no longer be in the oplog") != std::string::npos;
}

bool is_resumable(const DriverError& error) {
  if (is_history_lost(error)) return false;
  if (error.kind == DriverError::Kind::network) return true;
  if (error.kind != DriverError::Kind::server) return false;
  if (error.has_label("ResumableChangeStreamError")) return true;
  // Servers before 4.4 label nothing; these are the codes the drivers' change-stream rules list
  // for them (host/network trouble, elections, a killed cursor...).
  static constexpr std::array<std::int32_t, 18> kResumableCodes = {
      6, 7, 43, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436};
  return std::find(kResumableCodes.begin(), kResumableCodes.end(), error.code) != kResumableCodes.end();
}

bool is_unsupported(const DriverError& error) {
  if (error.kind != DriverError::Kind::server) return false;
  return error.code == 40573 || error.code == 40324 || error.code == 115 || error.code == 238;
}

std::string unsupported_message(const std::string& where, const DriverError& error) {
  return where + ": this server has no change streams (code " + std::to_string(error.code) + ": " + error.message +
         "), and the transactional mode's relay reads the outbox through one. Run the relay against a MongoDB "
         "replica set or sharded cluster (4.0 or later), or create the outbox in poll mode (?outboxMode=poll) on a "
         "server without change streams";
}

// ---- The tail --------------------------------------------------------------------------------

namespace {
// For tails created without a sequence: one per process, so positions still never go backwards
// when a relay reopens its tail.
std::shared_ptr<PositionSequence> process_positions() {
  static const auto shared = std::make_shared<PositionSequence>();
  return shared;
}
}  // namespace

ChangeStreamTail::ChangeStreamTail(std::unique_ptr<Driver> driver, ChangeStreamTailOptions options,
                                   ChangeStreamStart start, std::shared_ptr<PositionSequence> positions)
    : driver_(std::move(driver)),
      options_(std::move(options)),
      start_(std::move(start)),
      positions_(positions ? std::move(positions) : process_positions()) {
  if (options_.tail.batch_size < 1) throw UsageError("a change-stream tail needs batch_size >= 1");
  if (start_.kind == ChangeStreamStart::Kind::resume_after) last_token_ = start_.token;
}

std::string ChangeStreamTail::where() const {
  return "outbox '" + options_.outbox + "' (change stream on " + options_.database + "." + options_.collection + ")";
}

// Sends: pipeline [{$match: {operationType: {$in: [insert + the events that end a stream]}}}] so that
// updates and deletes (retention) never cross the network; options batchSize, maxAwaitTimeMS and
// the start point: resumeAfter the last token seen (after a reopen too), else the original start.
// resumeAfter rather than startAfter: a token of ours never follows an invalidate event, and an
// invalidated stream is an error here anyway (the outbox collection is gone).
void ChangeStreamTail::open() {
  stream_.reset();
  Bson pipeline;
  {
    bson_t stages, match_stage, match, operation_type, in;
    bson_append_array_begin(pipeline.get(), "pipeline", -1, &stages);
    bson_append_document_begin(&stages, "0", -1, &match_stage);
    bson_append_document_begin(&match_stage, "$match", -1, &match);
    bson_append_document_begin(&match, "operationType", -1, &operation_type);
    bson_append_array_begin(&operation_type, "$in", -1, &in);
    const char* types[] = {"insert", "drop", "rename", "dropDatabase", "invalidate"};
    for (std::uint32_t i = 0; i < std::size(types); ++i) {
      char buffer[16];
      const char* key = nullptr;
      bson_uint32_to_string(i, &key, buffer, sizeof buffer);
      bson_append_utf8(&in, key, -1, types[i], -1);
    }
    bson_append_array_end(&operation_type, &in);
    bson_append_document_end(&match, &operation_type);
    bson_append_document_end(&match_stage, &match);
    bson_append_document_end(&stages, &match_stage);
    bson_append_array_end(pipeline.get(), &stages);
  }
  Bson watch_options;
  if (!last_token_.empty()) {
    const Bson token = Bson::from_extended_json(last_token_, "resume token");
    bson_append_document(watch_options.get(), "resumeAfter", -1, token.get());
  } else if (start_.kind == ChangeStreamStart::Kind::at_operation_time) {
    bson_append_timestamp(watch_options.get(), "startAtOperationTime", -1, start_.seconds, start_.increment);
  }
  bson_append_int32(watch_options.get(), "batchSize", -1,
                    static_cast<std::int32_t>(std::min<std::size_t>(options_.tail.batch_size, INT32_MAX)));
  bson_append_int64(watch_options.get(), "maxAwaitTimeMS", -1, options_.max_await.count());
  stream_ = driver_->watch(options_.database, options_.collection, *pipeline, *watch_options);
}

std::vector<Message> ChangeStreamTail::next(std::chrono::milliseconds wait) {
  std::vector<Message> out;
  if (closed_) return out;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  if (!stream_) open();
  while (!closed_ && out.size() < options_.tail.batch_size) {
    if (const bson_t* event = stream_->next()) {
      consecutive_errors_ = 0;
      handle(*event, out);
      continue;
    }
    if (auto error = stream_->error()) {
      handle_error(*error);  // throws, or reopens the stream
      continue;
    }
    // The batch is exhausted and the server had nothing more within maxAwaitTimeMS: its post-batch
    // resume token now covers every event seen, all of which are returned (now or before).
    consecutive_errors_ = 0;
    if (auto token = stream_->resume_token()) {
      last_token_ = canonical_extended_json(**token);
      idle_ = last_token_;
    }
    if (!out.empty() || std::chrono::steady_clock::now() >= deadline) break;
  }
  return out;
}

void ChangeStreamTail::handle(const bson_t& event, std::vector<Message>& out) {
  bson_iter_t it;
  std::string token;
  std::string operation;
  const bson_t* full_document = nullptr;
  bson_t full_document_storage;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> cluster_time;
  if (bson_iter_init_find(&it, &event, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
    std::uint32_t length = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&it, &length, &data);
    bson_t id;
    if (bson_init_static(&id, data, length)) token = canonical_extended_json(id);
  }
  if (token.empty()) {
    throw StoreError(where() + ": a change event has no resume token (_id); the stream cannot be checkpointed", false);
  }
  if (bson_iter_init_find(&it, &event, "operationType") && BSON_ITER_HOLDS_UTF8(&it)) {
    operation = bson_iter_utf8(&it, nullptr);
  }
  if (bson_iter_init_find(&it, &event, "clusterTime") && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
    std::uint32_t seconds = 0, increment = 0;
    bson_iter_timestamp(&it, &seconds, &increment);
    cluster_time.emplace(seconds, increment);
  }
  if (operation == "insert") {
    if (bson_iter_init_find(&it, &event, "fullDocument") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      std::uint32_t length = 0;
      const std::uint8_t* data = nullptr;
      bson_iter_document(&it, &length, &data);
      if (bson_init_static(&full_document_storage, data, length)) full_document = &full_document_storage;
    }
    if (full_document == nullptr) {
      throw StoreError(where() + ": an insert event " + token + " carries no fullDocument", false);
    }
    Message m = message_from_document(*full_document, options_.outbox, options_.tail.parse_data);
    m.position = cluster_time ? positions_->next(cluster_time->first, cluster_time->second) : positions_->next();
    m.checkpoint = token;
    out.push_back(std::move(m));
    idle_.reset();  // until the stream runs dry again, only message checkpoints are valid
    last_token_ = std::move(token);
    return;
  }
  if (operation == "drop" || operation == "rename" || operation == "dropDatabase" || operation == "invalidate") {
    throw StoreError(where() + ": the collection was " +
                         (operation == "rename"       ? std::string("renamed")
                          : operation == "invalidate" ? std::string("dropped or renamed (invalidate event)")
                                                      : std::string("dropped")) +
                         " while the relay tailed it, which ends its change stream. Messages written after the "
                         "last checkpoint may be gone with it. Recreate the outbox with `outbox init`, then choose "
                         "where this consumer restarts with `outbox seek` before starting the relay again",
                     false);
  }
  // Anything else (the pipeline already filters updates and deletes) moves the resume point only.
  last_token_ = std::move(token);
}

void ChangeStreamTail::handle_error(const DriverError& error) {
  const std::string detail = "code " + std::to_string(error.code) + ": " + error.message;
  if (is_history_lost(error)) {
    stream_.reset();
    throw StoreError(where() + " cannot resume from " +
                         (last_token_.empty() ? std::string("its start point") : "resume token " + last_token_) +
                         ": that point is no longer in the server's oplog (" + detail +
                         "). Messages committed since then may not have been relayed. The relay will not restart "
                         "from \"now\" on its own: check what was missed, then choose a restart point "
                         "deliberately with `outbox seek` and start the relay again (and give the oplog more room "
                         "than the longest relay outage)",
                     false);
  }
  if (is_unsupported(error)) {
    stream_.reset();
    throw StoreError(unsupported_message(where(), error), false);
  }
  if (!is_resumable(error)) {
    stream_.reset();
    throw StoreError(where() + " failed (" + detail + ")", false);
  }
  // The driver's cached token is never ahead of what was handled here (each event it returned was
  // handled before the next call; a post-batch token only after its batch was returned), and it
  // may know the start point of a stream opened "now" before any batch ran dry: reopening from it
  // rather than from "now" again leaves no gap.
  if (auto cached = stream_->resume_token()) last_token_ = canonical_extended_json(**cached);
  // libmongoc has already tried one automatic resume; one more reopen from the last token, then
  // the relay's backoff takes over.
  if (++consecutive_errors_ > 1) {
    stream_.reset();
    throw StoreError(where() + " interrupted (" + detail + "); it resumes from the last checkpoint", true);
  }
  open();
}

}  // namespace outbox::mongodb

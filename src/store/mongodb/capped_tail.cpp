#include "capped_tail.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "layout.hpp"
#include "outbox/errors.hpp"

namespace outbox::mongodb::detail {

namespace {
// How long one getMore waits on the server for new documents. Short, so that a batch is handed
// over soon after the last document arrived, and close() is noticed.
constexpr std::int64_t kAwaitMs = 50;
}  // namespace

CappedTail::CappedTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
                       const TailOptions& options, std::chrono::milliseconds gap_timeout)
    : PositionTail(pool, std::move(database), std::move(outbox), after, options, gap_timeout) {}

void CappedTail::open_cursor() {
  Collection messages(client_.get(), database_, message_collection(outbox_));
  Bson filter(BCON_NEW("pos", "{", "$gt", BCON_INT64(last_), "}"));
  const auto batch = static_cast<std::int64_t>(std::max<std::size_t>(1, options_.batch_size));
  Bson opts(BCON_NEW("tailable", BCON_BOOL(true), "awaitData", BCON_BOOL(true), "maxAwaitTimeMS", BCON_INT64(kAwaitMs),
                     "batchSize", BCON_INT64(batch)));
  cursor_.emplace(mongoc_collection_find_with_opts(messages.get(), filter.get(), opts.get(), nullptr));
}

bool CappedTail::take(const bson_t& doc) {
  const std::int64_t pos = get_int64(doc, "pos", -1);
  if (pos <= last_ || ahead_.count(pos) != 0) return false;  // passed already, or a repeat
  if (is_tombstone(doc)) {
    ahead_.emplace(pos, std::nullopt);
    return true;
  }
  Message m = message_from_document(doc, outbox_, options_.parse_data);
  m.position = pos;
  m.checkpoint = encode_position(pos);
  ahead_.emplace(pos, std::move(m));
  return true;
}

std::size_t CappedTail::pull(std::size_t room) {
  if (!cursor_) open_cursor();
  std::size_t taken = 0, read = 0;
  const bson_t* doc = nullptr;
  // Repeats count towards `room` too: a cursor that returns old documents again (FerretDB) must not
  // keep the tail here.
  while (read < room && mongoc_cursor_next(cursor_->get(), &doc)) {
    ++read;
    if (take(*doc)) ++taken;
  }
  if (read >= room) return taken;
  bson_error_t error;
  const bson_t* reply = nullptr;
  if (mongoc_cursor_error_document(cursor_->get(), &error, &reply)) {
    // The server ended the cursor (its place was overwritten, or it was killed): reopen after the
    // last position passed. Anything else is the store's problem.
    cursor_.reset();
    const bool ended = is_cursor_ended(error);
    if (!ended) fail(error, "tailing capped outbox '" + outbox_ + "'", reply);  // retryable: the relay reopens
    spdlog::debug("outbox '{}': the server ended the tailable cursor ({}); reopening after position {}", outbox_,
                  error.message, last_);
  } else if (!mongoc_cursor_more(cursor_->get())) {
    cursor_.reset();  // e.g. nothing matched yet: a tailable cursor on nothing ends at once
  }
  return taken;
}

std::size_t CappedTail::read_by_position(std::int64_t below, std::size_t limit) {
  Collection messages(client_.get(), database_, message_collection(outbox_));
  Bson filter = below > 0 ? Bson(BCON_NEW("pos", "{", "$gt", BCON_INT64(last_), "$lt", BCON_INT64(below), "}"))
                          : Bson(BCON_NEW("pos", "{", "$gt", BCON_INT64(last_), "}"));
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(1, limit));
  Bson opts(BCON_NEW("sort", "{", "pos", BCON_INT32(1), "}", "limit", BCON_INT64(n), "batchSize", BCON_INT64(n)));
  MongoCursor cursor(mongoc_collection_find_with_opts(messages.get(), filter.get(), opts.get(), nullptr));
  std::size_t taken = 0;
  while (const bson_t* doc = cursor.next("reading capped outbox '" + outbox_ + "' by position")) {
    if (take(*doc)) ++taken;
  }
  return taken;
}

void CappedTail::hand_over(std::vector<Message>& batch, std::size_t limit) {
  while (batch.size() < limit && !ahead_.empty() && ahead_.begin()->first == last_ + 1) {
    auto node = ahead_.extract(ahead_.begin());
    last_ = node.key();
    if (!node.mapped()) continue;  // a tombstone: passed, not delivered
    delivered_ = last_;
    batch.push_back(std::move(*node.mapped()));
  }
}

void CappedTail::repair_hole() {
  const std::int64_t next_seen = ahead_.begin()->first;
  const auto missing = static_cast<std::size_t>(next_seen - last_ - 1);
  if (const std::size_t found =
          read_by_position(next_seen, std::min(missing, 4 * std::max<std::size_t>(1, options_.batch_size)))) {
    spdlog::info(
        "outbox '{}': the tailable cursor went past {} documents that are in the collection; read them "
        "by position",
        outbox_, found);
  }
  if (!hole()) {
    stop_waiting();
    return;
  }
  // Writers take position p only once p-1 is taken (docs/mongodb.md, "Poll mode"), and a capped
  // collection removes its oldest documents first: when even the oldest document left is above
  // the hole, everything from the hole up to it was written and has rolled off.
  Collection messages(client_.get(), database_, message_collection(outbox_));
  const std::string doing = "tailing capped outbox '" + outbox_ + "'";
  Bson all;
  Bson by_pos(BCON_NEW("pos", BCON_INT32(1)));
  const auto oldest = messages.find_one(*all, by_pos.get(), doing);
  const std::int64_t first = oldest ? get_int64(**oldest, "pos") : next_seen;
  if (first > last_ + 1) {
    const std::int64_t lost = first - last_ - 1;
    spdlog::warn(
        "outbox '{}': {} messages after position {} rolled off the capped collection before this consumer "
        "published them (the oldest left is position {}); enlarge the collection (outboxCappedSize, "
        "outboxCappedMax) or speed up the relay",
        outbox_, lost, last_, first);
    Collection outboxes(client_.get(), database_, kOutboxes);
    Bson id(BCON_NEW("_id", BCON_UTF8(outbox_.c_str())));
    Bson inc(BCON_NEW("$inc", "{", "dropped", BCON_INT64(lost), "}"));
    outboxes.update_one(*id, *inc, false, "counting rolled-off messages");
    last_ = first - 1;
    stop_waiting();
    return;
  }
  // A document at or below the hole is still there: the hole is a position taken by a writer that
  // has not inserted yet (or a document removed from outside). Wait, then close it like poll mode.
  wait_for_next_position();
}

std::vector<Message> CappedTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  std::vector<Message> batch;
  while (!closed_.load()) {
    // Hold back at most a few batches while a hole is open.
    const std::size_t room = 4 * limit > ahead_.size() ? std::min(limit, 4 * limit - ahead_.size()) : 0;
    const std::size_t pulled = room > 0 ? pull(room) : 0;
    if (hole()) {
      repair_hole();
    } else if (pulled == 0 && std::chrono::steady_clock::now() - last_check_ >= std::chrono::milliseconds(kAwaitMs)) {
      // The cursor had nothing new: check by position anyway (at most once per await), so that a
      // document the cursor never returns (see capped_tail.hpp) waits that long, not until the
      // next write.
      last_check_ = std::chrono::steady_clock::now();
      read_by_position(0, limit);
      if (hole()) repair_hole();
    }
    hand_over(batch, limit);
    // Keep filling the batch only while the cursor is streaming without a hole.
    const bool streaming = room > 0 && pulled == room && !hole();
    if (batch.size() >= limit || (!batch.empty() && !streaming)) return batch;
    const auto now = std::chrono::steady_clock::now();
    // A hole with messages behind it is not "idle": keep waiting until it is filled or closed (at
    // most the gap timeout), so that a caller draining the outbox does not stop before them.
    if (now >= deadline && !hole()) break;
    if (!cursor_ || room == 0) {  // no server-side await happened in this round: pause here
      auto pause = std::chrono::milliseconds(hole() ? 10 : kAwaitMs);
      if (now < deadline)
        pause = std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
      std::this_thread::sleep_for(pause);
    }
  }
  return batch;
}

}  // namespace outbox::mongodb::detail

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
// How many recent positions the tail remembers to drop repeats; far more than writers can reorder.
constexpr std::size_t kWindow = 10000;
}  // namespace

bool CappedTail::first_time(std::int64_t pos) {
  if (pos <= floor_ || !seen_.insert(pos).second) return false;
  while (seen_.size() > kWindow) {
    floor_ = std::max(floor_, *seen_.begin());
    seen_.erase(seen_.begin());
  }
  return true;
}

CappedTail::CappedTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
                       const TailOptions& options)
    : client_(pool), database_(std::move(database)), outbox_(std::move(outbox)), last_(after), options_(options) {}

void CappedTail::open() {
  Collection messages(client_.get(), database_, message_collection(outbox_));
  const std::string doing = "tailing capped outbox '" + outbox_ + "'";
  Bson filter;
  skipping_ = false;
  seen_.clear();
  floor_ = 0;
  if (last_ > 0) {
    Bson anchor(BCON_NEW("pos", BCON_INT64(last_)));
    if (messages.find_one(*anchor, nullptr, doing)) {
      skipping_ = true;  // read from the start, deliver what follows the anchor in natural order
    } else {
      filter = Bson(BCON_NEW("pos", "{", "$gt", BCON_INT64(last_), "}"));
      floor_ = last_;
      Bson all;
      Bson by_pos(BCON_NEW("pos", BCON_INT32(1)));
      if (auto oldest = messages.find_one(*all, by_pos.get(), doing)) {
        const std::int64_t first = get_int64(**oldest, "pos");
        if (first > last_ + 1) {
          const std::int64_t lost = first - last_ - 1;
          spdlog::warn("outbox '{}': about {} messages after position {} rolled off the capped collection before "
                       "this consumer published them (the oldest left is position {}); enlarge the collection "
                       "(outboxCappedSize) or speed up the relay",
                       outbox_, lost, last_, first);
          Collection outboxes(client_.get(), database_, kOutboxes);
          Bson id(BCON_NEW("_id", BCON_UTF8(outbox_.c_str())));
          Bson inc(BCON_NEW("$inc", "{", "dropped", BCON_INT64(lost), "}"));
          outboxes.update_one(*id, *inc, false, "counting rolled-off messages");
        }
      }
    }
  }
  const auto batch = static_cast<std::int64_t>(std::max<std::size_t>(1, options_.batch_size));
  Bson opts(BCON_NEW("tailable", BCON_BOOL(true), "awaitData", BCON_BOOL(true), "maxAwaitTimeMS", BCON_INT64(kAwaitMs),
                     "batchSize", BCON_INT64(batch)));
  cursor_.emplace(mongoc_collection_find_with_opts(messages.get(), filter.get(), opts.get(), nullptr));
}

std::vector<Message> CappedTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  const std::string doing = "tailing capped outbox '" + outbox_ + "'";
  std::vector<Message> batch;
  while (!closed_.load()) {
    if (!cursor_) open();
    const bson_t* doc = nullptr;
    if (mongoc_cursor_next(cursor_->get(), &doc)) {
      const std::int64_t pos = get_int64(*doc, "pos");
      const bool fresh = first_time(pos);
      if (skipping_) {  // everything up to the anchor was delivered before the reopen
        if (pos == last_) skipping_ = false;
        continue;
      }
      if (!fresh) {
        if (std::chrono::steady_clock::now() >= deadline && batch.empty()) break;
        if (std::chrono::steady_clock::now() >= deadline) return batch;
        continue;
      }
      Message m = message_from_document(*doc, outbox_, options_.parse_data);
      m.position = pos;
      m.checkpoint = encode_position(pos);
      last_ = pos;
      batch.push_back(std::move(m));
      if (batch.size() >= limit) return batch;
      continue;
    }
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_cursor_error_document(cursor_->get(), &error, &reply)) {
      // The server ended the cursor (its position was overwritten, or it was killed): reopen from
      // the last delivered message. Anything else is the store's problem.
      cursor_.reset();
      const bool ended = error.code == kCappedPositionLost || error.code == kCursorNotFound ||
                         (error.domain == MONGOC_ERROR_CURSOR && error.code == MONGOC_ERROR_CURSOR_INVALID_CURSOR);
      if (ended) {
        spdlog::debug("outbox '{}': the server ended the tailable cursor ({}); reopening after position {}", outbox_,
                     error.message, last_);
      } else {
        fail(error, doing, reply);  // retryable: the relay backs off and opens a new tail
      }
      continue;
    }
    if (!batch.empty()) return batch;
    if (!mongoc_cursor_more(cursor_->get())) {
      cursor_.reset();  // e.g. the collection was empty: a tailable cursor on nothing ends at once
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (!cursor_) std::this_thread::sleep_for(std::min({left, options_.recheck_interval, std::chrono::milliseconds(50)}));
  }
  return batch;
}

}  // namespace outbox::mongodb::detail

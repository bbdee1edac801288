#include "poll_tail.hpp"

#include <algorithm>

#include "layout.hpp"
#include "outbox/errors.hpp"

namespace outbox::mongodb::detail {

PollTail::PollTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
                   const TailOptions& options, std::chrono::milliseconds gap_timeout)
    : PositionTail(pool, std::move(database), std::move(outbox), after, options, gap_timeout) {}

std::vector<Message> PollTail::read() {
  Collection messages(client_.get(), database_, message_collection(outbox_));
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  Bson filter(BCON_NEW("pos", "{", "$gt", BCON_INT64(last_), "}"));
  Bson opts(BCON_NEW("sort", "{", "pos", BCON_INT32(1), "}", "limit", BCON_INT64(static_cast<std::int64_t>(limit)),
                     "batchSize", BCON_INT64(static_cast<std::int64_t>(limit))));
  MongoCursor cursor(mongoc_collection_find_with_opts(messages.get(), filter.get(), opts.get(), nullptr));
  std::vector<Message> batch;
  const std::string doing = "tailing outbox '" + outbox_ + "'";
  std::optional<std::int64_t> gap;
  while (const bson_t* doc = cursor.next(doing)) {
    const std::int64_t pos = get_int64(*doc, "pos", -1);
    if (pos != last_ + 1) {  // a position taken but not (yet) visible: wait for it
      gap = last_ + 1;
      break;
    }
    last_ = pos;
    if (is_tombstone(*doc)) continue;
    Message m = message_from_document(*doc, outbox_, options_.parse_data);
    m.position = pos;
    m.checkpoint = encode_position(pos);
    delivered_ = pos;
    batch.push_back(std::move(m));
  }
  if (gap && batch.empty()) {
    // Positions that retention deleted (a hard limit over unpublished messages) are not gaps.
    Collection outboxes(client_.get(), database_, kOutboxes);
    Bson id(BCON_NEW("_id", BCON_UTF8(outbox_.c_str())));
    if (auto s = outboxes.find_one(*id, nullptr, doing)) {
      const std::int64_t retired = get_int64(**s, "retired_to");
      if (retired >= *gap) {
        last_ = retired;
        stop_waiting();
        return batch;
      }
    }
  }
  if (gap) {
    wait_for_next_position();
  } else {
    stop_waiting();
  }
  return batch;
}

std::vector<Message> PollTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!closed_.load()) {
    auto batch = read();
    if (!batch.empty()) {
      poll_ = std::chrono::milliseconds(1);
      return batch;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // A hole with messages behind it is not "idle": keep waiting until it is filled or closed
    // (at most the gap timeout), so that a caller draining the outbox does not stop before them.
    if (left.count() <= 0 && !waiting()) break;
    if (left.count() <= 0) left = std::chrono::milliseconds(10);
    // Adaptive poll: 1 ms after a non-empty batch, doubling up to 100 ms while idle.
    const auto pause = std::min({poll_, left, options_.recheck_interval});
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, pause, [&] { return closed_.load(); });
    }
    poll_ = std::min(poll_ * 2, std::chrono::milliseconds(100));
  }
  return {};
}

void PollTail::close() {
  {
    std::lock_guard lock(mutex_);
    closed_.store(true);
  }
  cv_.notify_all();
}

}  // namespace outbox::mongodb::detail

#include "tail.hpp"

#include <algorithm>

#include "outbox/errors.hpp"

namespace outbox::postgres::detail {

void check_not_ahead(PGconn* conn, const Checkpoint& c) {
  Params p{c.lo, c.hi};
  Result r = exec(conn,
                  "SELECT pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax($1::pg_snapshot) OR "
                  "coalesce(pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax($2::pg_snapshot), false), "
                  "pg_current_snapshot()::text",
                  p, "checking the checkpoint against the server's transaction ids");
  if (r.text(0, 0) == "t") {
    throw StoreError("postgres: checkpoint '" + encode(c) + "' is ahead of this server's transaction ids (current "
                     "snapshot " + r.text(0, 1) + "): the database was restored into a new cluster or this is a "
                     "different server. Set the consumer's position with `outbox seek --to POSITION|beginning|end` "
                     "(after checking what it already published) and start the relay again",
                     false);
  }
}

PgTail::PgTail(const std::string& conninfo, const std::string& outbox, const Cursor& from,
               const TailOptions& options)
    : outbox_(outbox), options_(options), connection_(conninfo) {
  PGconn* c = connection_.get();
  const std::string t = message_table(c, outbox);
  select_sql_ = std::string("SELECT ") + kMessageColumns + " FROM " + t +
                " WHERE xid >= pg_snapshot_xmin($1::pg_snapshot) AND xid < pg_snapshot_xmax($2::pg_snapshot)"
                " AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot) AND pg_visible_in_snapshot(xid, $2::pg_snapshot)"
                " AND position > $3::bigint ORDER BY position LIMIT $4::bigint";
  if (from.kind == Cursor::Kind::after) {
    at_ = parse_checkpoint(from.checkpoint);
    check_not_ahead(c, at_);
  } else if (from.kind == Cursor::Kind::end) {
    at_.lo = exec(c, "SELECT pg_current_snapshot()::text", {}, "reading the current snapshot").text(0, 0);
  }
}

std::vector<Message> PgTail::read() {
  PGconn* c = connection_.ensure();
  if (!at_.hi) {
    std::string hi = exec(c, "SELECT pg_current_snapshot()::text", {}, "reading the current snapshot").text(0, 0);
    if (hi == at_.lo) return {};  // nothing committed since the last batch
    at_.hi = std::move(hi);
  }
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  Params p{at_.lo, at_.hi, std::to_string(at_.after), std::to_string(limit)};
  Result r = exec(c, select_sql_, p, "tailing outbox '" + outbox_ + "'");
  std::vector<Message> batch;
  batch.reserve(static_cast<std::size_t>(r.rows()));
  Checkpoint mark = at_;
  for (int i = 0; i < r.rows(); ++i) {
    Message m = read_message(r, i, outbox_, options_.parse_data);
    mark.after = m.position;
    m.checkpoint = encode(mark);
    batch.push_back(std::move(m));
  }
  if (batch.size() < limit) {  // the batch is complete: the next one starts where this one ends
    at_.lo = *at_.hi;
    at_.hi.reset();
    at_.after = 0;
  } else {
    at_.after = mark.after;
  }
  return batch;
}

std::vector<Message> PgTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!closed_.load()) {
    auto batch = read();
    if (!batch.empty()) {
      poll_ = std::chrono::milliseconds(1);
      return batch;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
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

void PgTail::close() {
  {
    std::lock_guard lock(mutex_);
    closed_.store(true);
  }
  cv_.notify_all();
}

}  // namespace outbox::postgres::detail

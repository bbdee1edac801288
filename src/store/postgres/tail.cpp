#include "tail.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

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
    throw StoreError(
        "postgres: checkpoint '" + encode(c) +
            "' is ahead of this server's transaction ids (current "
            "snapshot " +
            r.text(0, 1) +
            "): the database was restored into a new cluster or this is a "
            "different server. Move the consumer's checkpoint (seek to a position, the beginning or the end) "
            "after checking what it already published, and start the relay again",
        false);
  }
}

PgTail::PgTail(const std::string& conninfo, const std::string& outbox, const Cursor& from, const TailOptions& options,
               bool wakeups)
    : outbox_(outbox), options_(options), wakeups_(wakeups), connection_(conninfo), wake_lock_(wake_lock(outbox)) {
  PGconn* c = connection_.get();
  const std::string t = message_table(c, outbox);
  // The rows of a window (lo, hi]: committed after `lo` was taken and before `hi` was. Its
  // position range comes first, through the xid index (the OFFSET 0 keeps the planner from turning
  // min() into a walk of the primary key that filters every delivered row). Each batch then walks
  // the primary key within that range only. The planner misjudges how many rows an xid range
  // holds (517 estimated for 50,000 here), so a batch query that also named the xid range was
  // planned on the xid index: every batch read and sorted the whole window (a relay catching up
  // on a table of 1M delivered rows ran at 0.4x). The visibility conditions imply the xid range.
  const std::string in_window =
      "NOT pg_visible_in_snapshot(xid, $1::pg_snapshot) AND pg_visible_in_snapshot(xid, $2::pg_snapshot)";
  window_sql_ = "SELECT min(position), max(position) FROM (SELECT position FROM " + t +
                " WHERE xid >= pg_snapshot_xmin($1::pg_snapshot) AND xid < pg_snapshot_xmax($2::pg_snapshot) AND " +
                in_window + " OFFSET 0) w";
  select_sql_ = std::string("SELECT ") + kMessageColumns + " FROM " + t + " WHERE " + in_window +
                " AND position > $3::bigint AND position <= $5::bigint ORDER BY position LIMIT $4::bigint";
  if (from.kind == Cursor::Kind::after) {
    at_ = parse_checkpoint(from.checkpoint);
    check_not_ahead(c, at_);
    // Resumed inside a window: its rows left are above `after`; walk to the table's end rather
    // than read the window's range, which for a large old window costs a scan of all its rows.
    if (at_.hi) last_in_window_ = std::numeric_limits<std::int64_t>::max();
  } else if (from.kind == Cursor::Kind::end) {
    at_.lo = exec(c, "SELECT pg_current_snapshot()::text", {}, "reading the current snapshot").text(0, 0);
  }
  prepare_session();
  close_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);  // last: nothing below can throw and leak it
  if (close_fd_ < 0) throw StoreError(std::string("postgres: eventfd failed: ") + std::strerror(errno), false);
}

PgTail::~PgTail() {
  if (close_fd_ >= 0) ::close(close_fd_);
}

void PgTail::prepare_session() {
  if (session_ == connection_.generation()) return;
  asleep_ = false;  // the lock ended with the old session
  if (wakeups_) {
    PGconn* c = connection_.get();
    exec(c, "LISTEN " + quote_ident(c, wake_channel(outbox_)), {}, "listening for commits to outbox '" + outbox_ + "'");
  }
  session_ = connection_.generation();
}

bool PgTail::try_fall_asleep() {
  PGconn* c = connection_.get();
  Params p{std::to_string(wake_lock_.cls), std::to_string(wake_lock_.obj)};
  if (exec(c, "SELECT pg_try_advisory_lock($1::int, $2::int)", p, "taking the wake-up lock").text(0, 0) != "t") {
    return false;
  }
  asleep_ = true;
  // Notifications that arrived before the lock are stale: the re-read that follows sees their commits.
  PQconsumeInput(c);
  drain_notifications();
  return true;
}

void PgTail::release_wake_lock() {
  PGconn* c = connection_.get();
  Params p{std::to_string(wake_lock_.cls), std::to_string(wake_lock_.obj)};
  exec(c, "SELECT pg_advisory_unlock($1::int, $2::int)", p, "releasing the wake-up lock");
  asleep_ = false;
}

bool PgTail::drain_notifications() {
  bool any = false;
  while (PGnotify* n = PQnotifies(connection_.get())) {
    any = true;
    PQfreemem(n);
  }
  return any;
}

void PgTail::wait(std::chrono::milliseconds timeout) {
  PGconn* c = connection_.get();
  if (drain_notifications()) return;  // arrived during the last query
  pollfd fds[2] = {{PQsocket(c), POLLIN, 0}, {close_fd_, POLLIN, 0}};
  const int n = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (n > 0 && fds[0].revents != 0) {
    // A notification, or the server went away: then the next query fails and the connection is
    // reopened (Connection::ensure), which throws a retryable StoreError while it cannot be.
    PQconsumeInput(c);
    drain_notifications();
  }
}

std::vector<Message> PgTail::read() {
  // A window carried over (from a checkpoint, or after a full batch) may hold nothing more; then
  // the next window is read at once, so that a read never answers "nothing" while commits wait (a
  // relay resumed from its checkpoint with stop_when_idle stopped before reading them).
  const bool carried = at_.hi.has_value();
  if (!carried && !start_window()) return {};
  std::vector<Message> batch = read_window();
  if (batch.empty() && carried && start_window()) batch = read_window();
  return batch;
}

bool PgTail::start_window() {
  PGconn* c = connection_.get();
  std::string hi = exec(c, "SELECT pg_current_snapshot()::text", {}, "reading the current snapshot").text(0, 0);
  if (hi == at_.lo) return false;  // nothing committed since the last window
  at_.hi = std::move(hi);
  return true;
}

void PgTail::close_window() {
  at_.lo = *at_.hi;
  at_.hi.reset();
  at_.after = 0;
  last_in_window_.reset();
}

std::vector<Message> PgTail::read_window() {
  if (!last_in_window_) {  // the window's position range, once per window
    Result range = exec(connection_.get(), window_sql_, {at_.lo, at_.hi}, "tailing outbox '" + outbox_ + "'");
    if (range.is_null(0, 0)) {  // no row at all
      close_window();
      return {};
    }
    at_.after = std::max<std::int64_t>(at_.after, range.int64(0, 0) - 1);
    last_in_window_ = range.int64(0, 1);
  }
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  Params p{at_.lo, at_.hi, std::to_string(at_.after), std::to_string(limit), std::to_string(*last_in_window_)};
  Result r = exec(connection_.get(), select_sql_, p, "tailing outbox '" + outbox_ + "'");
  std::vector<Message> batch;
  batch.reserve(static_cast<std::size_t>(r.rows()));
  Checkpoint mark = at_;
  for (int i = 0; i < r.rows(); ++i) {
    Message m = read_message(r, i, outbox_, options_.parse_data);
    mark.after = m.position;
    m.checkpoint = encode(mark);
    batch.push_back(std::move(m));
  }
  if (batch.size() < limit) {  // the window is done: the next one starts where this one ends
    close_window();
  } else {
    at_.after = mark.after;
  }
  return batch;
}

std::vector<Message> PgTail::next(std::chrono::milliseconds wait_at_most) {
  const auto deadline = std::chrono::steady_clock::now() + wait_at_most;
  while (!closed_.load()) {
    connection_.ensure();
    prepare_session();
    if (asleep_) release_wake_lock();  // awake: writers need not notify while this tail reads
    auto batch = read();
    if (batch.empty() && wakeups_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (try_fall_asleep()) {
        batch = read();  // what committed before the lock was taken
        if (batch.empty()) {
          wait(std::min(left, options_.recheck_interval));
          continue;
        }
        release_wake_lock();
      }
    }
    if (!batch.empty()) {
      poll_ = std::chrono::milliseconds(1);
      return batch;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // Polling: a transaction that put a message is still open (it holds the wake lock), or wake-ups
    // are off. 1 ms after a batch, doubling while idle, up to 16 ms (wake-ups on: the open
    // transaction is usually about to commit) or 100 ms (off).
    wait(std::min({poll_, left, options_.recheck_interval}));
    poll_ = std::min(poll_ * 2, std::chrono::milliseconds(wakeups_ ? 16 : 100));
  }
  return {};
}

void PgTail::close() {
  closed_.store(true);
  const std::uint64_t one = 1;
  if (close_fd_ >= 0 && ::write(close_fd_, &one, sizeof one) < 0) {
    // Only fails when the counter is saturated, i.e. it is already signalled.
  }
}

}  // namespace outbox::postgres::detail

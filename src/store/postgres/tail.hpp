// The PostgreSQL tail: PgQ-style snapshot differences. A batch is the set of rows whose writing
// transaction is visible in snapshot `hi` (taken when the batch starts) and not in `lo` (the end
// of the previous batch), delivered in position order. See docs/postgres.md.
//
// When idle it sleeps on LISTEN until a writer wakes it (the protocol is described at WakeLock in
// tables.hpp); it polls, 1-16 ms apart, only while a transaction that has put a message is still
// open, or always when wake-ups are off.
#pragma once

#include <atomic>
#include <chrono>

#include "connection.hpp"
#include "outbox/store.hpp"
#include "tables.hpp"

namespace outbox::postgres::detail {

class PgTail final : public Tail {
 public:
  PgTail(const std::string& conninfo, const std::string& outbox, const Cursor& from, const TailOptions& options,
         bool wakeups);
  ~PgTail() override;

  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }

 private:
  // The rows of the snapshot window (lo, hi] in position order, a batch at a time: rows whose
  // transactions committed after `lo` was taken and before `hi` was.
  std::vector<Message> read();
  // Opens the next window at the current snapshot; false when nothing committed since the last.
  bool start_window();
  void close_window();
  std::vector<Message> read_window();
  // LISTEN again after a reconnect (a new session has neither the LISTEN nor the lock).
  void prepare_session();
  // Takes the wake lock; false while a transaction that put a message is still open.
  bool try_fall_asleep();
  void release_wake_lock();
  // Waits for a notification on the tail's connection, close() or the timeout.
  void wait(std::chrono::milliseconds timeout);
  bool drain_notifications();

  std::string outbox_;
  TailOptions options_;
  bool wakeups_;
  Connection connection_;
  std::string window_sql_;  // a window's first and last position
  std::string select_sql_;  // a batch of a window, within those
  Checkpoint at_;
  std::optional<std::int64_t> last_in_window_;  // known once the window's range was read
  WakeLock wake_lock_;
  std::uint64_t session_ = 0;  // Connection::generation() that prepare_session() set up
  bool asleep_ = false;        // holds the wake lock
  std::chrono::milliseconds poll_{1};
  std::atomic<bool> closed_{false};
  int close_fd_ = -1;  // eventfd that close() signals
};

// Throws StoreError if a snapshot of the checkpoint is ahead of the server's current snapshot:
// transaction ids restarted (dump/restore into a new cluster, or a different server).
void check_not_ahead(PGconn* conn, const Checkpoint& c);

}  // namespace outbox::postgres::detail

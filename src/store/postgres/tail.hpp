// The PostgreSQL tail: PgQ-style snapshot differences. A batch is the set of rows whose writing
// transaction is visible in snapshot `hi` (taken when the batch starts) and not in `lo` (the end
// of the previous batch), delivered in position order. See docs/postgres.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "connection.hpp"
#include "outbox/store.hpp"
#include "tables.hpp"

namespace outbox::postgres::detail {

class PgTail final : public Tail {
 public:
  PgTail(const std::string& conninfo, const std::string& outbox, const Cursor& from, const TailOptions& options);

  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }

 private:
  std::vector<Message> read();

  std::string outbox_;
  TailOptions options_;
  Connection connection_;
  std::string select_sql_;
  Checkpoint at_;
  std::chrono::milliseconds poll_{1};
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

// Throws StoreError if a snapshot of the checkpoint is ahead of the server's current snapshot:
// transaction ids restarted (dump/restore into a new cluster, or a different server).
void check_not_ahead(PGconn* conn, const Checkpoint& c);

}  // namespace outbox::postgres::detail

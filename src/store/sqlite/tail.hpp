// A live tail over one outbox table, on a connection of its own. SQLite serialises writers and
// assigns positions (max(rowid) + 1) under the write lock, so positions become visible in commit
// order and `position > last` can never skip a message that commits later.
#pragma once

#include <atomic>

#include "commit_watcher.hpp"
#include "connection.hpp"
#include "outbox/store.hpp"
#include "recheck_schedule.hpp"

namespace outbox::sqlite::detail {

class SqliteTail final : public Tail {
 public:
  SqliteTail(const std::string& path, int busy_timeout_ms, const std::string& outbox, std::int64_t after,
             const TailOptions& options);

  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }

 private:
  std::vector<Message> read();

  std::string outbox_;
  TailOptions options_;
  Connection connection_;
  Statement select_;
  CommitWatcher watcher_;
  std::int64_t after_;
  // Messages in the last batch that had any (at most kMaxReserve): what the next one reserves.
  std::size_t expected_batch_ = 1;
  RecheckSchedule schedule_;
  std::atomic<bool> closed_{false};
};

}  // namespace outbox::sqlite::detail

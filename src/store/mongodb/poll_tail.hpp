// Poll mode's tail: reads by position, in position order, and never passes a position it has not
// seen filled, either by a message or by a tombstone (see docs/mongodb.md, "Poll mode").
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "client.hpp"
#include "outbox/store.hpp"

namespace outbox::mongodb::detail {

class PollTail final : public Tail {
 public:
  PollTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after, const TailOptions& options,
           std::chrono::milliseconds gap_timeout);
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }
  // Past tombstones that no message followed yet: valid when nothing is in flight.
  std::optional<std::string> idle_checkpoint() override;

 private:
  std::vector<Message> read();
  void close_gap(std::int64_t pos);

  PooledClient client_;
  std::string database_, outbox_;
  std::int64_t last_;        // the last position passed (delivered or a tombstone)
  std::int64_t delivered_;   // the last position delivered as a message
  TailOptions options_;
  std::chrono::milliseconds gap_timeout_;
  std::int64_t gap_pos_ = 0;  // the position being waited for, 0 = none
  std::chrono::steady_clock::time_point gap_since_{};
  std::chrono::milliseconds poll_{1};
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace outbox::mongodb::detail

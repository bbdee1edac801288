// Poll mode's tail: reads by position, in position order, and never passes a position it has not
// seen filled, either by a message or by a tombstone (see docs/mongodb.md, "Poll mode").
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "position_tail.hpp"

namespace outbox::mongodb::detail {

class PollTail final : public PositionTail {
 public:
  PollTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after, const TailOptions& options,
           std::chrono::milliseconds gap_timeout);
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }

 private:
  std::vector<Message> read();

  std::chrono::milliseconds poll_{1};
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace outbox::mongodb::detail

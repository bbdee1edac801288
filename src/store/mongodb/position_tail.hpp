// What the poll and capped tails share: they pass positions one by one and never skip one they
// have not seen filled. They keep the last position passed and the last delivered (past
// tombstones, the relay may save an idle checkpoint), and a timer for the position they wait for:
// once it has been missing for the gap timeout, it is closed with a tombstone (see
// docs/mongodb.md, "Poll mode").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "client.hpp"
#include "outbox/store.hpp"

namespace outbox::mongodb::detail {

class PositionTail : public Tail {
 public:
  // Past tombstones (and, in capped mode, rolled-off positions) that no message followed yet:
  // valid when nothing is in flight.
  std::optional<std::string> idle_checkpoint() override;

 protected:
  PositionTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
               const TailOptions& options, std::chrono::milliseconds gap_timeout);

  // Position last_+1 is missing while a later one is there: starts its timer, or, once it ran
  // out, closes the position with a tombstone (the unique index decides the race with a late
  // writer; either way the next read finds the position filled).
  void wait_for_next_position();
  // The position waited for is no longer missing (or need not be waited for).
  void stop_waiting() { gap_pos_ = 0; }
  bool waiting() const { return gap_pos_ != 0; }

  PooledClient client_;
  std::string database_, outbox_;
  std::int64_t last_;       // the last position passed (a message, a tombstone, or rolled off)
  std::int64_t delivered_;  // the last position delivered as a message
  TailOptions options_;
  std::chrono::milliseconds gap_timeout_;

 private:
  std::int64_t gap_pos_ = 0;  // the position being waited for, 0 = none
  std::chrono::steady_clock::time_point gap_since_{};
};

}  // namespace outbox::mongodb::detail

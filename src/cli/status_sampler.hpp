// Reads a store's status in the background for the metrics endpoint, so that a scrape answers from
// the last reading instead of running the store's counting queries itself. On a 500,000-row outbox
// those queries take 250-540 ms (counts over every row), and scraping continuously slowed a backlog
// drain by about 11%. Readings are spaced so that the store spends at most about a tenth of the
// time on them: the pause after a reading is at least `min_interval` and at least 9 times as long
// as the reading took.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "outbox/store.hpp"

namespace outbox::cli {

class StatusSampler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Reading {
    OutboxStatus status;
    Clock::time_point taken;  // when the reading finished
  };

  // Starts reading at once, on a thread of its own. `read` may throw; the error is kept and
  // reported by latest() until a later reading succeeds.
  StatusSampler(std::function<OutboxStatus()> read, std::chrono::milliseconds min_interval);
  // Waits for a reading in progress, then stops.
  ~StatusSampler();
  StatusSampler(const StatusSampler&) = delete;
  StatusSampler& operator=(const StatusSampler&) = delete;

  // The last reading. Waits up to `wait` for the first one; throws StoreError when there is none
  // (with the error of the last failed reading, if any).
  Reading latest(std::chrono::milliseconds wait) const;

 private:
  void run();

  const std::function<OutboxStatus()> read_;
  const std::chrono::milliseconds min_interval_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::optional<Reading> reading_;
  std::string error_;  // of the last reading, if it failed
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace outbox::cli

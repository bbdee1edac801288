// A chore the relay does every so often on its own thread (renew the lease, enforce retention, log
// progress): the loop asks due() each turn and calls ran() after doing it. The loop turns at least
// every idle wait, so a chore runs within that much of its time; no thread, no lock.
#pragma once

#include <chrono>

namespace outbox::detail {

class IntervalTimer {
 public:
  using Clock = std::chrono::steady_clock;

  // `last`: when the chore last ran (Clock::time_point{} for "never", so it is due at once).
  IntervalTimer(Clock::duration period, Clock::time_point last) : period_(period), last_(last) {}

  bool due(Clock::time_point now) const { return now - last_ >= period_; }
  // Late by a whole period or more: the loop stalled (a slow disk or broker call).
  bool overdue(Clock::time_point now) const { return now - last_ >= 2 * period_; }
  void ran(Clock::time_point now) { last_ = now; }
  Clock::duration since_last(Clock::time_point now) const { return now - last_; }

 private:
  Clock::duration period_;
  Clock::time_point last_;
};

}  // namespace outbox::detail

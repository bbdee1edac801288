#include "recheck_schedule.hpp"

#include <algorithm>

namespace outbox::sqlite::detail {

const std::array<RecheckSchedule::microseconds, RecheckSchedule::kPauses> RecheckSchedule::kSchedule = [] {
  std::array<microseconds, kPauses> pauses{};
  microseconds pause = kFirstPause;
  for (auto& p : pauses) {
    p = pause;
    pause = std::min(2 * pause, kLongestPause);
  }
  return pauses;
}();

RecheckSchedule::microseconds RecheckSchedule::next_wait(microseconds idle) const {
  return rechecking() ? kSchedule[step_] : idle;
}

void RecheckSchedule::waited(bool written) {
  if (written) {
    step_ = 0;
  } else if (rechecking() && ++step_ == kSchedule.size()) {
    step_ = kNotSettling;  // nothing came of the pauses: wait for the next write
  }
}

}  // namespace outbox::sqlite::detail

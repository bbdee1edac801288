#include "health_checks.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace outbox::cli {

namespace {

// A probe's answer is one line: a reason that quotes a broker's multi-line error is folded.
std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace

std::chrono::milliseconds liveness_bound(const RelayOptions& options) {
  const auto renewal = std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_ttl) / 3;
  return std::max({3 * renewal, 3 * options.idle_wait, std::chrono::milliseconds(10000)});
}

Probe liveness(const RelayState& state, std::chrono::steady_clock::time_point now, std::chrono::milliseconds bound) {
  const auto idle = now - state.last_turn;
  if (idle <= bound) return {true, "ok"};
  return {false, fmt::format("stuck: the relay loop has not turned for {:.0f} s (more than {} s); it is blocked in a "
                             "call to the store or the sink: see the log, and restart the relay if it stays so",
                             std::chrono::duration<double>(idle).count(),
                             std::chrono::duration_cast<std::chrono::seconds>(bound).count())};
}

Probe readiness(const RelayState& state, const std::string& sink_health, std::chrono::steady_clock::time_point now,
                std::chrono::milliseconds bound) {
  using Phase = RelayState::Phase;
  switch (state.phase) {
    case Phase::starting:
      return {false, "starting: the relay has not taken its consumer's lease yet"};
    case Phase::standby:
      return {false, one_line("standby: " + state.standby_reason +
                              " (this relay takes over when that one stops or its lease expires)")};
    case Phase::stopping:
      return {false, "stopping: the relay is draining and will exit"};
    case Phase::running:
      break;
  }
  if (auto live = liveness(state, now, bound); !live.ok) return live;
  if (sink_health != "ok") return {false, one_line("sink: " + sink_health)};
  return {true, "ok"};
}

}  // namespace outbox::cli

// The answers of GET /healthz and /readyz on the relay's metrics listener, decided from a snapshot
// of the relay (Relay::state()) and its sink's health, so that the decision is tested without a
// process. Liveness asks "does the relay loop still turn?" (a restart helps when it does not);
// readiness asks "is this relay the one publishing, and can it?" (a standby is alive, not ready).
#pragma once

#include <chrono>
#include <string>

#include "outbox/relay.hpp"

namespace outbox::cli {

struct Probe {
  bool ok = false;
  std::string reason;  // one line: "ok", or what is wrong and what to do
};

// How long the loop may go without progress before it counts as stuck: three lease renewals
// (lease_ttl / 3 each) or three idle waits, whichever is longer, and at least 10 s, so that a slow
// store call or a long flush is not mistaken for a hang.
std::chrono::milliseconds liveness_bound(const RelayOptions& options);

Probe liveness(const RelayState& state, std::chrono::steady_clock::time_point now, std::chrono::milliseconds bound);

// Ready when live, running (holding the lease) and the sink says "ok". `sink_health` is the sink's
// own text, which the sinks keep free of passwords.
Probe readiness(const RelayState& state, const std::string& sink_health, std::chrono::steady_clock::time_point now,
                std::chrono::milliseconds bound);

}  // namespace outbox::cli

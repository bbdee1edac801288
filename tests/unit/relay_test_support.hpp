// What the relay's unit tests share: options that make a relay fast to test (short backoff and
// idle wait, ends when idle), the positions from..to, and a bounded wait for a condition.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "outbox/relay.hpp"

namespace outbox::relay_test {

// A safety bound, not a measurement: every wait ends as soon as its condition holds.
constexpr auto kBound = std::chrono::seconds(10);

inline RelayOptions fast_options() {
  RelayOptions o;
  o.outbox = "orders";
  o.owner = "test-relay";
  o.backoff.initial = std::chrono::milliseconds(1);
  o.backoff.max = std::chrono::milliseconds(4);
  o.idle_wait = std::chrono::milliseconds(20);
  o.stop_when_idle = true;
  return o;
}

inline std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v;
  for (auto i = from; i <= to; ++i) v.push_back(i);
  return v;
}

template <class Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kBound;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace outbox::relay_test

#include "outbox/testing/scripted_sink.hpp"

#include <algorithm>
#include <random>

namespace outbox::testing {

ScriptedSink::ScriptedSink(Script script) : script_(std::move(script)) {}

void ScriptedSink::hold(bool on) {
  std::lock_guard lock(mutex_);
  held_ = on;
}

void ScriptedSink::fail_behind_failure(bool on) {
  std::lock_guard lock(mutex_);
  fail_behind_failure_ = on;
}

// In one Sink::report call, as the Kafka sink hands over a broker response's delivery reports.
void ScriptedSink::report_all(const std::vector<std::pair<std::int64_t, Outcome>>& outcomes) {
  std::vector<Delivery> deliveries;
  deliveries.reserve(outcomes.size());
  for (const auto& [position, outcome] : outcomes) {
    deliveries.push_back(Delivery{position, outcome, outcome == Outcome::ok ? "" : "scripted failure"});
  }
  report(deliveries);
}

void ScriptedSink::release_reversed() {
  std::vector<std::pair<std::int64_t, Outcome>> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(pending_);
  }
  std::reverse(pending.begin(), pending.end());
  report_all(pending);
}

void ScriptedSink::release_shuffled(std::uint64_t seed) {
  std::vector<std::pair<std::int64_t, Outcome>> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(pending_);
  }
  std::mt19937_64 rng(seed);
  std::shuffle(pending.begin(), pending.end(), rng);
  report_all(pending);
}

void ScriptedSink::release_if(const std::function<bool(std::int64_t)>& pick) {
  std::vector<std::pair<std::int64_t, Outcome>> chosen;
  {
    std::lock_guard lock(mutex_);
    auto keep = std::stable_partition(pending_.begin(), pending_.end(), [&](const auto& p) { return !pick(p.first); });
    chosen.assign(keep, pending_.end());
    pending_.erase(keep, pending_.end());
  }
  report_all(chosen);
}

std::size_t ScriptedSink::pending() {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

std::vector<std::int64_t> ScriptedSink::published() {
  std::lock_guard lock(mutex_);
  return published_;
}

std::vector<std::int64_t> ScriptedSink::delivered() {
  std::lock_guard lock(mutex_);
  return delivered_;
}

void ScriptedSink::do_publish(std::span<const Message> batch) {
  std::vector<std::pair<std::int64_t, Outcome>> now;
  {
    std::lock_guard lock(mutex_);
    bool failed = false;
    for (const auto& m : batch) {
      const int attempt = ++attempts_[m.position];
      published_.push_back(m.position);
      Outcome o = script_(m.position, attempt, batch.size());
      if (failed && fail_behind_failure_) o = Outcome::retryable;
      failed = failed || o != Outcome::ok;
      if (o == Outcome::ok) delivered_.push_back(m.position);
      (held_ ? pending_ : now).emplace_back(m.position, o);
    }
  }
  report_all(now);
}

}  // namespace outbox::testing

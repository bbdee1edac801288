// The relays of one `outbox relay` process, one per configured entry (relay_config.hpp). Each runs
// on its own thread with its own store connection, sink, lease and checkpoint, so that one entry's
// trouble (its sink cannot connect, its store is unreachable, it lost its lease) does not stop the
// others: that relay is logged, reported not ready, and started again after a backoff (1 s doubling
// to 30 s). With a single entry nothing changes from the plain `outbox relay`: it runs on the
// calling thread and its errors end the command (exit 1, or 2 for a bad URI).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "health_checks.hpp"
#include "outbox/relay.hpp"
#include "relay_config.hpp"

namespace outbox::cli {

struct RelayRunner;

// One relay's counters for /metrics (summed over its restarts, so that counters never go back).
struct RelayFigures {
  std::string outbox, consumer;
  RelayStats stats;
};

// One relay's probe answer.
struct RelayProbe {
  std::string outbox, consumer;
  Probe probe;
};

class RelayGroup {
 public:
  // `destination_gone` is called (on a relay's thread) when a sink's destination went away for good
  // (the stdout sink's reader exited): the caller stops the group from its signal thread.
  RelayGroup(const std::vector<RelaySettings>& relays, bool drain, std::function<void()> destination_gone);
  ~RelayGroup();  // stops and joins what still runs
  RelayGroup(const RelayGroup&) = delete;
  RelayGroup& operator=(const RelayGroup&) = delete;

  // Runs every relay until stop() or, with drain, until each has published what was committed.
  // Returns how many relays failed for good (with drain a failure is not retried: the batch job
  // should end with exit 1 rather than wait forever).
  int run();

  // Thread-safe; also before run(), which then returns at once.
  void stop();

  bool destination_gone() const;
  std::size_t size() const { return runners_.size(); }

  std::vector<RelayFigures> figures() const;
  std::vector<RelayProbe> liveness() const;
  std::vector<RelayProbe> readiness() const;

  // Backoff before restart number `attempt` (1-based): 1 s doubling, at most 30 s.
  static std::chrono::milliseconds restart_delay(int attempt);

 private:
  std::vector<std::unique_ptr<RelayRunner>> runners_;
  bool drain_;
};

}  // namespace outbox::cli

// The relay engine: tail -> sink -> checkpoint of the acknowledged prefix. It knows only the Store
// and Sink interfaces, so every store works with every sink.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "outbox/sink.hpp"
#include "outbox/store.hpp"

namespace outbox {

struct Backoff {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  double jitter = 0.2;  // +/- this fraction, so that many relays do not retry in lock step

  // Delay before retry number `attempt` (1-based), jitter drawn from `unit_random` in [0, 1).
  std::chrono::milliseconds delay(int attempt, double unit_random) const;
};

struct RelayOptions {
  std::string outbox;
  std::string consumer = "default";
  std::string owner;                 // lease owner; defaults to "hostname:pid"
  std::size_t batch_size = 1000;     // messages read from the tail at once
  std::size_t max_in_flight = 2000;  // published but not yet acknowledged (memory grows with it)
  int max_attempts = 5;              // permanent failures before a message is dead-lettered
  Backoff backoff;
  std::chrono::milliseconds idle_wait{1000};          // longest wait on an idle tail
  std::chrono::milliseconds shutdown_timeout{10000};  // to drain in-flight work on stop()
  // Longest time the acknowledged prefix may go unsaved while messages keep flowing (it is saved
  // at once when the relay catches up, and on stop). After a crash, at most this much is resent.
  std::chrono::milliseconds checkpoint_interval{100};
  // The consumer's lease: renewed every lease_ttl/3; a relay killed without releasing it blocks a
  // successor for at most lease_ttl.
  std::chrono::seconds lease_ttl{30};
  // While another relay holds the lease: wait as a standby (true) or throw LeaseLost (false).
  bool wait_for_lease = true;
  std::optional<RetentionPolicy> retention;
  std::chrono::seconds retention_interval{10};
  // Stop once the tail is idle and nothing is in flight (used by tests and `--drain`).
  bool stop_when_idle = false;
};

struct RelayStats {
  std::int64_t published = 0;     // handed to the sink (retries included)
  std::int64_t acknowledged = 0;  // confirmed by the sink
  std::int64_t retries = 0;
  std::int64_t dead_lettered = 0;
  std::int64_t checkpoints = 0;  // checkpoint saves
  std::int64_t retention_deleted = 0;
  std::int64_t retention_dropped = 0;
  std::int64_t last_position = 0;  // last position checkpointed
};

// What health checks ask of a running relay (Relay::state()).
struct RelayState {
  enum class Phase {
    starting,  // not yet holding its lease (or not yet running)
    standby,   // another relay holds the consumer's lease; this one waits to take over
    running,   // holds the lease and publishes
    stopping,  // draining after stop(), or ended
  };
  Phase phase = Phase::starting;
  std::string standby_reason;  // while a standby: who holds the lease (the store's words)
  // When the relay's loop last made progress (a turn, a retry, a wait for the store or the lease).
  // A deliberate wait counts as progress until it ends, so this may lie up to one wait ahead of
  // now. A loop blocked in a call (a store or broker that never answers) lets it fall behind.
  std::chrono::steady_clock::time_point last_turn;
};

class Relay {
 public:
  Relay(Store& store, Sink& sink, RelayOptions options);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Runs until stop() (or idle, with stop_when_idle). Before returning it waits up to
  // shutdown_timeout for in-flight acknowledgements and saves the checkpoint of the acknowledged
  // prefix. Throws LeaseLost if another relay holds this consumer, StoreError on database failure.
  void run();

  // Thread-safe. Not async-signal-safe: call it from a signal-waiting thread.
  void stop();

  RelayStats stats() const;

  // Thread-safe and cheap (the loop only stores an atomic per turn): for health checks.
  RelayState state() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox

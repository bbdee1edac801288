// The seam between the relay and a broker. Modelled on spdlog's sinks: the public methods are
// non-virtual and do the bookkeeping (in-flight count, the outcome queue, locking) once; a sink
// implements the small protected hooks. A sink for an asynchronous broker calls report() later,
// from any thread (e.g. a delivery-report callback); a synchronous sink calls it before returning.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "outbox/message.hpp"

namespace outbox {

enum class Outcome {
  ok,         // the broker has the message durably (e.g. Kafka acks=all, fsync for files)
  retryable,  // may succeed later (broker down, timeout): retried without limit, with backoff
  permanent,  // will not succeed as is (too large, refused): dead-lettered after N attempts
};

struct Delivery {
  std::int64_t position = 0;  // identifies the message within the stream
  Outcome outcome = Outcome::ok;
  std::string error;  // empty on success
};

class Sink {
 public:
  virtual ~Sink() = default;
  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Hands messages over in delivery order. Each one gets exactly one outcome through poll().
  // Order after failures: once any message fails, later publish calls fail at once (retryable)
  // until every outstanding outcome is in, so nothing overtakes the relay's in-order retry. A sink
  // whose client may still deliver messages queued behind a failed one must fail those too
  // (the Kafka sink purges its queue).
  void publish(std::span<const Message> batch);

  // Returns the outcomes that have arrived, waiting up to `wait` for the first one.
  std::vector<Delivery> poll(std::chrono::milliseconds wait);

  // Pushes out anything buffered and waits up to `timeout` for outstanding outcomes.
  void flush(std::chrono::milliseconds timeout);

  std::size_t in_flight() const;

  // What this sink writes to, for logs (never with secrets).
  virtual std::string describe() const = 0;
  // "ok", or what is wrong with the broker connection right now (shown by `outbox status`).
  virtual std::string health() const { return "ok"; }

  // Called once when the destination has gone for good (stdout's reader exited), with the reason,
  // on the publishing thread or on a thread of the sink's own (stdout's watcher, while idle); the
  // program should then stop the relay so that it ends in order (checkpoint saved, lease
  // released). Set after the destination went, it is called at once, on the caller's thread.
  void on_closed(std::function<void(const std::string& why)> callback);

  // Thread-safe; for a stop. A publish still waiting on a stalled destination `grace` from now
  // gives up and reports its messages retryable (published again after a restart). Sinks whose
  // client bounds its own waits ignore it.
  void stop_within(std::chrono::milliseconds grace) { do_stop_within(grace); }

 protected:
  virtual void do_publish(std::span<const Message> batch) = 0;
  virtual void do_flush(std::chrono::milliseconds /*timeout*/) {}
  virtual void do_stop_within(std::chrono::milliseconds /*grace*/) {}

  // The destination has gone for good: calls the on_closed callback (the first time only).
  void closed(const std::string& why);

  // Records the outcome of one message; thread-safe.
  void report(std::int64_t position, Outcome outcome, std::string error = {});
  // Records several outcomes at once, in order (one lock, one wake-up of the relay): for a client
  // that hands over a whole broker response of acknowledgements at a time. Empties `deliveries`.
  void report(std::vector<Delivery>& deliveries);

 private:
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<Delivery> outcomes_;
  std::size_t in_flight_ = 0;
  bool broken_ = false;                                // a message failed since in_flight_ was last zero
  std::function<void(const std::string&)> on_closed_;  // guarded by mutex_
  std::optional<std::string> closed_why_;              // guarded by mutex_; set by closed()
};

// `stdout:`, `file:PATH`, `null:`, and the broker sinks of this build (kafka://HOST:PORT/TOPIC),
// through the scheme table (outbox/scheme.hpp). `properties` go to the broker's client
// (librdkafka's, for Kafka); sinks without a client refuse them. Throws UsageError for an unknown
// scheme or property. Defined in outbox::outbox (the umbrella library).
using SinkProperties = std::map<std::string, std::string>;
std::unique_ptr<Sink> open_sink(const std::string& uri, const SinkProperties& properties = {});

}  // namespace outbox

// `amqp://` - publishes each message to a RabbitMQ exchange (AMQP 0-9-1) and acknowledges it by its
// publisher confirm. Synchronous like the Redis sink: a batch is published in one go on one channel
// in confirm mode (the basic.publish frames pipelined, nothing waited for in between), then the
// confirms are read, and every outcome is reported before do_publish returns.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "outbox/destination.hpp"
#include "outbox/envelope.hpp"
#include "outbox/rabbitmq.hpp"

struct amqp_connection_state_t_;

namespace outbox::rabbitmq::detail {

class RabbitmqSink final : public Sink {
 public:
  explicit RabbitmqSink(SinkOptions options);
  ~RabbitmqSink() override;

  std::string describe() const override;
  std::string health() const override;

 protected:
  void do_publish(std::span<const Message> batch) override;
  void do_stop_within(std::chrono::milliseconds grace) override;

 private:
  // Connects, logs in, opens channel 1 and puts it in confirm mode when there is no connection;
  // false with health() set if any of it fails.
  bool connect();
  // Drops a broken connection (or one whose channel the broker closed) so that the next publish reconnects.
  void disconnect(const std::string& why);
  void set_health(std::string text);

  SinkOptions options_;
  DestinationTemplate routing_key_;
  EnvelopeOptions envelope_;
  amqp_connection_state_t_* conn_ = nullptr;            // only the publishing thread touches it
  std::uint64_t next_tag_ = 1;                          // the delivery tag of the next basic.publish on the channel
  std::chrono::steady_clock::time_point connected_at_;  // returns are retryable until return_grace_ms past it
  // steady_clock nanoseconds past which a wait for confirms gives up (stop_within); 0: none.
  std::atomic<std::int64_t> stop_deadline_ns_{0};
  mutable std::mutex health_mutex_;
  std::string health_ = "ok";
};

}  // namespace outbox::rabbitmq::detail

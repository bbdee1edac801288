// `redis://` - appends each message to a Redis stream with XADD and acknowledges it from the reply.
// Synchronous: a batch is one pipelined round trip (MULTI, one XADD per message, EXEC) on one
// connection, and every outcome is reported before do_publish returns.
#pragma once

#include <mutex>
#include <string>

#include "outbox/destination.hpp"
#include "outbox/envelope.hpp"
#include "outbox/redis.hpp"

struct redisContext;

namespace outbox::redis::detail {

class RedisSink final : public Sink {
 public:
  explicit RedisSink(SinkOptions options);
  ~RedisSink() override;

  std::string describe() const override;
  std::string health() const override;

 protected:
  void do_publish(std::span<const Message> batch) override;

 private:
  // Connects (and authenticates) when there is no connection; false with health() set if it fails.
  bool connect();
  // Drops a broken connection so that the next publish reconnects.
  void disconnect(const std::string& why);
  void set_health(std::string text);

  SinkOptions options_;
  DestinationTemplate stream_;
  EnvelopeOptions envelope_;
  redisContext* ctx_ = nullptr;  // only the publishing thread touches it
  mutable std::mutex health_mutex_;
  std::string health_ = "ok";
};

}  // namespace outbox::redis::detail

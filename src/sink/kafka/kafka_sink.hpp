// `kafka://` - publishes with an idempotent librdkafka producer and acknowledges each message from
// its delivery report (acks=all). A background thread serves the reports.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "outbox/destination.hpp"
#include "outbox/envelope.hpp"
#include "outbox/kafka.hpp"

typedef struct rd_kafka_s rd_kafka_t;

namespace outbox::kafka::detail {

class KafkaSink final : public Sink {
 public:
  explicit KafkaSink(SinkOptions options);
  ~KafkaSink() override;

  std::string describe() const override;
  std::string health() const override;

  // Called from librdkafka's callbacks.
  void delivered(std::int64_t position, int error, const char* reason);
  void client_error(int error, const char* reason);

 protected:
  void do_publish(std::span<const Message> batch) override;
  void do_flush(std::chrono::milliseconds timeout) override;

 private:
  rd_kafka_t* create_producer();
  void request_topic_metadata();
  void produce(rd_kafka_t* rk, const Message& m);
  void serve();             // the delivery-report thread
  void replace_producer();  // after a fatal error: fail what is in flight, start afresh
  // Runs librdkafka calls that serve delivery reports (poll, flush), then reports what they
  // delivered to the relay in one go.
  template <class F>
  void collecting_reports(F&& serve_callbacks);

  SinkOptions options_;
  DestinationTemplate topic_;
  EnvelopeOptions envelope_;
  std::mutex producer_mutex_;  // guards rk_ against replacement while producing
  rd_kafka_t* rk_ = nullptr;
  std::atomic<bool> fatal_{false};
  std::atomic<bool> purge_{false};  // a delivery failed: fail everything queued behind it
  std::atomic<bool> stopping_{false};
  mutable std::mutex health_mutex_;
  std::string health_ = "ok";
  std::atomic<bool> health_ok_{true};  // health_ is "ok": acknowledgements need not take the lock
  std::thread poller_;
};

}  // namespace outbox::kafka::detail

// `nats://` - publishes to JetStream asynchronously and acknowledges each message on its PubAck.
// One connection at a time, without libnats' own reconnect (which would send what was published
// during an outage from its reconnect buffer, ahead of the relay's retry of what the outage lost):
// a lost connection fails everything awaiting a PubAck, and a new connection is opened. A monitor
// thread notices the loss and reconnects while the relay is idle.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "outbox/destination.hpp"
#include "outbox/envelope.hpp"
#include "outbox/nats.hpp"

// libnats' own type names, declared here so that nats.h stays out of this header (.clang-tidy
// allows these reserved names).
typedef struct __natsConnection natsConnection;
typedef struct __natsMsg natsMsg;
typedef struct __jsCtx jsCtx;
typedef struct jsPubAck jsPubAck;
typedef struct jsPubAckErr jsPubAckErr;

namespace outbox::nats::detail {

bool legal_subject(const std::string& s);
bool legal_stream_name(const std::string& s);
// Throws UsageError when the template cannot give a legal publish subject.
DestinationTemplate check_subject_template(const std::string& subject);

class NatsSink final : public Sink {
 public:
  explicit NatsSink(SinkOptions options);
  ~NatsSink() override;

  std::string describe() const override;
  std::string health() const override;

  // The PubAck (or its failure) of one message; from libnats' reply thread.
  void acknowledged(natsMsg* msg, const jsPubAck* ack, const jsPubAckErr* error);

 protected:
  void do_publish(std::span<const Message> batch) override;
  void do_flush(std::chrono::milliseconds timeout) override;
  void do_stop_within(std::chrono::milliseconds grace) override;

 private:
  struct Entry {
    std::int64_t position;
    std::uint64_t seq;  // publish order, to tell what was queued behind a failure
    std::string subject;
  };
  static constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();

  // All under conn_mutex_.
  bool ensure_connected();
  void connect();
  // Fails what awaits a PubAck (retryable, with `why`), closes, destroys; `warn`: log and show
  // `why` as the health (a lost connection, not the sink's own close).
  void drop_connection(const std::string& why, bool warn = true);
  bool check_stream(const std::string& subject, std::int64_t position, std::uint64_t seq);
  std::string create_or_extend_stream(const std::string& subject);  // "" on success
  void publish_one(const Message& m);

  void fail(std::int64_t position, std::uint64_t seq, Outcome outcome, const std::string& error);
  bool broken() const;
  void set_health(std::string h);
  void monitor();

  SinkOptions options_;
  DestinationTemplate subject_;
  EnvelopeOptions envelope_;
  std::string described_;

  std::mutex conn_mutex_;  // the connection: publishing, flushing, replacing
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  bool published_async_ = false;  // js_ has its async-publish state (libnats creates it lazily)
  std::chrono::steady_clock::time_point next_connect_{};
  std::chrono::milliseconds connect_backoff_{100};

  mutable std::mutex state_mutex_;  // what awaits a PubAck
  std::condition_variable drained_;
  std::unordered_map<natsMsg*, Entry> pending_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t failed_seq_ = kNone;  // the earliest failure since pending_ was last empty
  std::set<std::string> verified_;    // subjects a stream is known to listen on

  mutable std::mutex health_mutex_;
  std::string health_ = "ok";

  std::atomic<std::int64_t> stop_deadline_ns_{0};  // steady clock; 0 = none
  std::atomic<bool> stopping_{false};
  std::mutex monitor_mutex_;
  std::condition_variable monitor_wake_;
  std::thread monitor_;
};

}  // namespace outbox::nats::detail

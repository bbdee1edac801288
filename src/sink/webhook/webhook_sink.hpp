// `http://` and `https://` - POSTs each message (or a JSON array of up to `batch` of them) to a
// receiver and acknowledges it on a 2xx answer. Synchronous: one request at a time on one
// keep-alive connection, and every outcome is reported before do_publish returns, so no two
// requests for the same key are ever in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "outbox/envelope.hpp"
#include "outbox/webhook.hpp"

namespace httplib {
class Client;
}

namespace outbox::webhook::detail {

class WebhookSink final : public Sink {
 public:
  explicit WebhookSink(SinkOptions options);
  ~WebhookSink() override;

  std::string describe() const override;
  std::string health() const override;

 protected:
  void do_publish(std::span<const Message> batch) override;
  void do_stop_within(std::chrono::milliseconds grace) override;

 private:
  struct Answer {
    Outcome outcome = Outcome::ok;
    std::string error;
  };
  // One POST of `messages` (already in order); what it means for each of them.
  Answer post(std::span<const Message> messages);
  std::shared_ptr<httplib::Client> client();
  void drop_client();
  void set_health(std::string text);

  SinkOptions options_;
  EnvelopeOptions envelope_;
  std::string base_;    // scheme://host:port, for httplib
  std::string target_;  // path and the endpoint's query: what each POST asks for

  std::mutex client_mutex_;  // guards the pointer only: a request runs without it, so stop can cut it
  std::shared_ptr<httplib::Client> client_;

  // Retry-After: nothing is sent before this time; messages fail retryable until then.
  std::chrono::steady_clock::time_point quiet_until_{};
  std::string quiet_reason_;  // e.g. "HTTP 429, Retry-After 30 s"

  mutable std::mutex health_mutex_;
  std::string health_ = "ok";

  // do_stop_within: after the grace, a watcher cuts the request in progress and refuses new ones.
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_wake_;
  bool destroying_ = false;  // guarded by stop_mutex_
  std::thread stop_watcher_;
};

}  // namespace outbox::webhook::detail

// A webhook receiver of the tests' own: an httplib server on a free loopback port that answers
// what the test scripts (200 by default; 500, 429 with Retry-After, 400, slow, or stalled until
// released) and records every request it accepted with a 2xx, in arrival order.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace testing_webhook {

struct Request {
  std::string path;
  std::string target;  // the request line's target: path and query as sent
  std::string body;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Answer {
  Answer() = default;
  Answer(int s, std::string r = {}, std::chrono::milliseconds d = {})
      : status(s), retry_after(std::move(r)), delay(d) {}
  int status = 200;
  std::string retry_after;  // sent as Retry-After when not empty
  std::chrono::milliseconds delay{0};
  bool stall = false;  // wait, unanswered, until release() or stop()
};

class Receiver {
 public:
  // port 0: a free one; a restart passes the old port so that the sink's URI stays right.
  explicit Receiver(int port = 0) { start(port); }
  // HTTPS with this certificate and key (PEM files).
  Receiver(std::string cert, std::string key) : cert_(std::move(cert)), key_(std::move(key)) { start(0); }
  ~Receiver() { stop(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path_and_query = "/hook") const {
    return (cert_.empty() ? "http://" : "https://") + std::string("127.0.0.1:") + std::to_string(port_) +
           path_and_query;
  }

  // The next requests get these answers, in order; after them, `rule` (if set) or 200.
  void script(std::vector<Answer> answers) {
    std::lock_guard lock(mutex_);
    for (auto& a : answers) script_.push_back(std::move(a));
  }
  // Decides the answer from the request; consulted when the script is empty.
  void set_rule(std::function<Answer(const Request&)> rule) {
    std::lock_guard lock(mutex_);
    rule_ = std::move(rule);
  }
  // While stalled, every request waits (without answering) until release() or stop().
  void stall() {
    std::lock_guard lock(mutex_);
    stalled_ = true;
    released_ = false;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      stalled_ = false;
      released_ = true;
    }
    wake_.notify_all();
  }

  std::vector<Request> accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  int requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  bool wait_for_requests(int n, std::chrono::milliseconds bound) const {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (requests() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return requests() >= n;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  void restart() {
    stop();
    start(port_);
  }

 private:
  void start(int port) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = false;
    }
    if (cert_.empty()) {
      server_ = std::make_unique<httplib::Server>();
    } else {
      server_ = std::make_unique<httplib::SSLServer>(cert_.c_str(), key_.c_str());
    }
    server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    if (port == 0) {
      port_ = server_->bind_to_any_port("127.0.0.1");
    } else {
      // The old port may linger in TIME_WAIT for a moment; httplib sets SO_REUSEADDR, so retry briefly.
      for (int i = 0; i < 100 && !server_->bind_to_port("127.0.0.1", port); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      port_ = port;
    }
    if (port_ <= 0 || !server_->is_valid()) throw std::runtime_error("the test receiver could not bind");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    Request r{req.path, req.target, req.body, req.headers};
    Answer a;
    {
      std::unique_lock lock(mutex_);
      ++requests_;
      if (!script_.empty()) {
        a = script_.front();
        script_.pop_front();
      } else if (rule_) {
        a = rule_(r);
      }
      wake_.wait(lock, [&] { return (!stalled_ && !a.stall) || stopping_ || released_; });
      if (stopping_) {
        res.status = 503;
        return;
      }
    }
    if (a.delay.count() > 0) std::this_thread::sleep_for(a.delay);
    res.status = a.status;
    if (!a.retry_after.empty()) res.set_header("Retry-After", a.retry_after);
    if (a.status >= 200 && a.status < 300) {
      std::lock_guard lock(mutex_);
      accepted_.push_back(std::move(r));
    } else {
      res.set_content("scripted " + std::to_string(a.status), "text/plain");
    }
  }

  std::string cert_, key_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Answer> script_;
  std::function<Answer(const Request&)> rule_;
  bool stalled_ = false;
  bool released_ = false;  // release() also lets scripted stalls go
  bool stopping_ = false;
  int requests_ = 0;
  std::vector<Request> accepted_;
};

}  // namespace testing_webhook

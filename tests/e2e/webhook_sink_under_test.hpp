// The HTTP webhook sink in the end-to-end matrix, against a receiver run by this test process (an
// httplib server on a free loopback port, tests/integration/webhook/webhook_receiver.hpp). The
// harness restarts "the broker" by running a command; for a receiver that lives in the test, that
// command creates a file, and a watcher here stops the receiver, keeps it down for a second (the
// relays meet connection refused) and starts it again on the same port. Each accepted POST is read
// back from memory afterwards; relay lives cannot be told apart in it, and a relay killed after a
// 2xx but before its checkpoint resends (duplicates), so only each key's order and completeness are
// judged, as for Kafka and Redis.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sink_under_test.hpp"
#include "webhook_fixture.hpp"

namespace outbox::e2e {

class WebhookSinkUnderTest : public SinkUnderTest {
 public:
  ~WebhookSinkUnderTest() override {
    done_ = true;
    if (watcher_.joinable()) watcher_.join();
  }

  std::string name() const override { return "webhook"; }

  void prepare(const std::filesystem::path& dir) override {
    trigger_ = dir / "restart-receiver";
    receiver_ = std::make_unique<testing_webhook::Receiver>();
    watcher_ = std::thread([this] {
      while (!done_) {
        if (std::filesystem::exists(trigger_)) {
          std::filesystem::remove(trigger_);
          receiver_->stop();
          std::this_thread::sleep_for(std::chrono::seconds(1));
          receiver_->restart();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }

  std::vector<std::string> relay_args(int, std::mt19937_64& rng) override {
    // A random batch size per relay, as the harness gives the other sinks: 1 (headers mode) or more.
    const int batch =
        std::uniform_int_distribution<int>(0, 1)(rng) == 0 ? 1 : std::uniform_int_distribution<int>(2, 100)(rng);
    return {"--sink", receiver_->url("/e2e?batch=" + std::to_string(batch) + "&timeout_ms=2000")};
  }

  std::vector<std::string> restart_command() const override { return {"/usr/bin/touch", trigger_.string()}; }

  Delivered delivered(std::int64_t) override {
    Delivered d;
    for (const auto& m : testing_webhook::messages_of(receiver_->accepted())) {
      nlohmann::json line = {{"id", m.at("id")}, {"position", m.at("position")}, {"data", m.at("data")}};
      if (m.contains("key") && m["key"].is_string()) line["key"] = m["key"];
      d.lines += line.dump() + "\n";
    }
    return d;
  }

  crash::VerifyOptions verify_options(crash::VerifyOptions store) const override {
    store.one_delivery_sequence = false;  // relay lives are not marked in what the receiver got
    return store;
  }

 private:
  std::filesystem::path trigger_;
  std::unique_ptr<testing_webhook::Receiver> receiver_;
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace outbox::e2e

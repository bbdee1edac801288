// A sink in front of a broker's sink that times each acknowledgement against the message's
// `created` (set by put, just before the writer's COMMIT): commit -> acknowledged latency. Works for
// synchronous sinks too (their outcomes are there when publish returns). Used through
// relay_source.hpp's measure_latency by every relay -> broker benchmark.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "outbox/sink.hpp"

namespace bench {

// Forwards to a broker sink and times each acknowledgement against the message's `created`
// (set by put, just before the writer's COMMIT).
class TimingSink final : public outbox::Sink {
 public:
  explicit TimingSink(std::unique_ptr<outbox::Sink> inner) : inner_(std::move(inner)) {
    pump_ = std::thread([this] {
      while (!stop_) {
        for (const auto& d : inner_->poll(std::chrono::milliseconds(5))) {
          const auto now = outbox::now();
          {
            std::lock_guard lock(mutex_);
            auto it = created_.find(d.position);
            if (it != created_.end() && d.outcome == outbox::Outcome::ok) {
              latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
              created_.erase(it);
            }
          }
          report(d.position, d.outcome, d.error);
        }
      }
    });
  }
  ~TimingSink() override {
    stop_ = true;
    pump_.join();
  }
  std::string describe() const override { return "timed " + inner_->describe(); }
  std::vector<double> latencies() {
    std::lock_guard lock(mutex_);
    return latencies_ms_;
  }
  void reset() {
    std::lock_guard lock(mutex_);
    latencies_ms_.clear();
  }

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    {
      std::lock_guard lock(mutex_);
      for (const auto& m : batch) created_[m.position] = m.created;
    }
    inner_->publish(batch);
  }
  void do_flush(std::chrono::milliseconds t) override { inner_->flush(t); }

 private:
  std::unique_ptr<outbox::Sink> inner_;
  std::mutex mutex_;
  std::unordered_map<std::int64_t, outbox::Timestamp> created_;
  std::vector<double> latencies_ms_;
  std::atomic<bool> stop_{false};
  std::thread pump_;
};

}  // namespace bench

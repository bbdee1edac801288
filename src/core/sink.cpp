#include "outbox/sink.hpp"

namespace outbox {

void Sink::publish(std::span<const Message> batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mutex_);
    // Once every earlier outcome is in, the relay has seen the failure and is retrying in order.
    if (in_flight_ == 0) broken_ = false;
    if (broken_) {
      // A message failed and the relay has not caught up yet: sending this batch now could put
      // it ahead of the failed message's retry. Fail it too; the relay retries it in order.
      for (const auto& m : batch) {
        outcomes_.push_back(Delivery{m.position, Outcome::retryable, "not sent: an earlier message failed"});
      }
      arrived_.notify_all();
      return;
    }
    in_flight_ += batch.size();
  }
  do_publish(batch);
}

void Sink::report(std::int64_t position, Outcome outcome, std::string error) {
  {
    std::lock_guard lock(mutex_);
    outcomes_.push_back(Delivery{position, outcome, std::move(error)});
    if (in_flight_ > 0) --in_flight_;
    if (outcome != Outcome::ok) broken_ = true;
  }
  arrived_.notify_all();
}

void Sink::report(std::vector<Delivery>& deliveries) {
  if (deliveries.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (auto& d : deliveries) {
      if (in_flight_ > 0) --in_flight_;
      if (d.outcome != Outcome::ok) broken_ = true;
      outcomes_.push_back(std::move(d));
    }
  }
  deliveries.clear();
  arrived_.notify_all();
}

std::vector<Delivery> Sink::poll(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (outcomes_.empty() && wait.count() > 0) {
    arrived_.wait_for(lock, wait, [&] { return !outcomes_.empty(); });
  }
  std::vector<Delivery> out;
  out.swap(outcomes_);
  return out;
}

void Sink::flush(std::chrono::milliseconds timeout) {
  // One deadline for both steps: a broker that is down made do_flush take the whole timeout and
  // the wait another (a 5 s --shutdown-timeout took 10 s).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do_flush(timeout);
  std::unique_lock lock(mutex_);
  arrived_.wait_until(lock, deadline, [&] { return in_flight_ == 0; });
}

void Sink::on_closed(std::function<void(const std::string&)> callback) {
  std::optional<std::string> why;
  {
    std::lock_guard lock(mutex_);
    if (!closed_why_) {
      on_closed_ = std::move(callback);
      return;
    }
    why = closed_why_;  // the destination went before anyone asked: say so now
  }
  if (callback) callback(*why);
}

void Sink::closed(const std::string& why) {
  std::function<void(const std::string&)> callback;
  {
    std::lock_guard lock(mutex_);
    if (closed_why_) return;  // once
    closed_why_ = why;
    callback.swap(on_closed_);
  }
  if (callback) callback(why);  // outside the lock: it may call back into the sink
}

std::size_t Sink::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

}  // namespace outbox

// Test doubles for unit-testing the relay's logic: an in-memory Store and a Sink whose outcomes
// a test scripts. They prove nothing about real databases or brokers (integration tests do that).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "outbox/errors.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"

namespace fakes {

using namespace outbox;

class MemoryStore final : public Store {
 public:
  void append(std::int64_t position, std::string key = "k") {
    std::lock_guard lock(mutex_);
    Message m;
    m.outbox = "orders";
    m.type = "t";
    m.key = std::move(key);
    m.position = position;
    m.checkpoint = std::to_string(position);
    m.data = {{"n", position}};
    messages_.push_back(m);
    cv_.notify_all();
  }

  void init(const std::string&) override {}
  std::vector<std::string> outboxes() override { return {"orders"}; }
  Message put(const SchemaRegistry&, Message m) override { return m; }

  class MemoryTail final : public Tail {
   public:
    MemoryTail(MemoryStore& s, std::int64_t after, std::size_t batch) : s_(s), after_(after), batch_(batch) {}
    std::vector<Message> next(std::chrono::milliseconds wait) override {
      if (s_.tail_failures > 0) {
        --s_.tail_failures;
        throw StoreError("database unavailable (scripted)", true);
      }
      std::unique_lock lock(s_.mutex_);
      std::vector<Message> out;
      s_.cv_.wait_for(lock, wait, [&] { return closed_ || ready(); });
      if (closed_) return out;
      for (const auto& m : s_.messages_) {
        if (m.position > after_ && out.size() < batch_) out.push_back(m);
      }
      if (!out.empty()) after_ = out.back().position;
      dry_ = !ready();
      ++s_.reads_;
      return out;
    }
    // Like a change stream's post-batch resume token: once a read returned everything there was,
    // the point after it, which idle_high_water (oplog progress without messages) may push further.
    std::optional<std::string> idle_checkpoint() override {
      const std::int64_t high_water = s_.idle_high_water;
      if (high_water == 0 || !dry_) return std::nullopt;
      return std::to_string(std::max(after_, high_water));
    }
    void close() override {
      std::lock_guard lock(s_.mutex_);
      closed_ = true;
      s_.cv_.notify_all();
    }
    bool closed() const override { return closed_; }

   private:
    bool ready() const {
      return !s_.messages_.empty() && s_.messages_.back().position > after_;
    }
    MemoryStore& s_;
    std::int64_t after_;
    std::size_t batch_;
    bool closed_ = false;
    bool dry_ = false;
  };

  std::unique_ptr<Tail> tail(const std::string&, const Cursor& from, const TailOptions& o) override {
    if (open_failures > 0) {
      --open_failures;
      throw StoreError("database unavailable (scripted)", true);
    }
    const std::int64_t after = from.kind == Cursor::Kind::after ? std::stoll(from.checkpoint) : 0;
    return std::make_unique<MemoryTail>(*this, after, o.batch_size);
  }
  std::string checkpoint_before(std::int64_t p) override { return std::to_string(p - 1); }
  std::string checkpoint_at_end(const std::string&) override { return "0"; }

  std::optional<std::string> acquire(const std::string&, const std::string&, const std::string& owner,
                                     std::chrono::seconds) override {
    if (acquire_failures > 0) {
      --acquire_failures;
      throw StoreError(acquire_error, acquire_retryable);
    }
    std::lock_guard lock(mutex_);
    if (!owner_.empty() && owner_ != owner) throw LeaseLost("held by " + owner_);
    owner_ = owner;
    return checkpoint_;
  }
  void save_checkpoint(const std::string&, const std::string&, const std::string& owner, const std::string& cp,
                       std::chrono::seconds, const std::string&) override {
    if (save_failures > 0) {
      --save_failures;
      throw StoreError("database unavailable (scripted)", true);
    }
    std::lock_guard lock(mutex_);
    if (owner != owner_) throw LeaseLost("lost");
    if (checkpoint_ && std::stoll(cp) < std::stoll(*checkpoint_)) backwards_ = true;
    checkpoint_ = cp;
    saved_.push_back(std::stoll(cp));
  }
  void release(const std::string&, const std::string&, const std::string& owner) override {
    std::lock_guard lock(mutex_);
    if (owner == owner_) owner_.clear();
  }
  void seek(const std::string&, const std::string&, const std::string& cp) override { checkpoint_ = cp; }
  void dead_letter(const std::string&, const Message& m, const std::string& error, int attempts) override {
    std::lock_guard lock(mutex_);
    DeadLetter d;
    d.message = m;
    d.error = error;
    d.attempts = attempts;
    dead_.push_back(d);
  }
  std::vector<DeadLetter> dead_letters(const std::string&, std::size_t) override {
    std::lock_guard lock(mutex_);
    return dead_;
  }
  RetentionResult enforce_retention(const std::string&, const RetentionPolicy&) override { return {}; }
  OutboxStatus status(const std::string&) override { return {}; }

  std::optional<std::int64_t> checkpoint() {
    std::lock_guard lock(mutex_);
    if (!checkpoint_) return std::nullopt;
    return std::stoll(*checkpoint_);
  }
  std::vector<std::int64_t> saved() {
    std::lock_guard lock(mutex_);
    return saved_;
  }
  bool went_backwards() const { return backwards_; }
  std::atomic<int> tail_failures{0};  // the next N tail reads throw a retryable StoreError
  // Non-zero: tails offer idle checkpoints (see MemoryTail::idle_checkpoint). Keep it past every
  // appended position, as a real post-batch token is past every committed message.
  std::atomic<std::int64_t> idle_high_water{0};
  int reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }
  std::atomic<int> save_failures{0};  // the next N checkpoint saves do
  std::atomic<int> open_failures{0};     // the next N tail() calls do
  std::atomic<int> acquire_failures{0};  // the next N acquire() calls throw StoreError(acquire_error, acquire_retryable)
  std::string acquire_error = "database unavailable (scripted)";
  bool acquire_retryable = true;
  void set_owner(std::string o) { owner_ = std::move(o); }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Message> messages_;
  std::optional<std::string> checkpoint_;
  std::vector<std::int64_t> saved_;
  std::vector<DeadLetter> dead_;
  std::string owner_;
  bool backwards_ = false;
  int reads_ = 0;  // tail reads that returned (with or without messages)
};

// Records every publish; decides each outcome with `script(position, attempt)`. In held mode the
// outcomes wait until release() is called, in the order the test chooses (asynchronous acks).
class ScriptedSink final : public Sink {
 public:
  // batch_size: how many messages the publish call that carried this one had.
  using Script = std::function<Outcome(std::int64_t position, int attempt, std::size_t batch_size)>;
  explicit ScriptedSink(Script script = [](std::int64_t, int, std::size_t) { return Outcome::ok; })
      : script_(std::move(script)) {}

  std::string describe() const override { return "scripted"; }

  void hold(bool on) { held_ = on; }
  // Reports the held outcomes in reverse order (the worst case for the checkpoint logic).
  void release_reversed() {
    std::vector<std::pair<std::int64_t, Outcome>> pending;
    {
      std::lock_guard lock(mutex_);
      pending.swap(pending_);
    }
    for (auto it = pending.rbegin(); it != pending.rend(); ++it) report(it->first, it->second, "scripted");
  }
  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }
  std::vector<std::int64_t> published() {
    std::lock_guard lock(mutex_);
    return published_;
  }
  std::vector<std::int64_t> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }

 protected:
  void do_publish(std::span<const Message> batch) override {
    for (const auto& m : batch) {
      Outcome o;
      {
        std::lock_guard lock(mutex_);
        const int attempt = ++attempts_[m.position];
        published_.push_back(m.position);
        o = script_(m.position, attempt, batch.size());
        if (o == Outcome::ok) delivered_.push_back(m.position);
        if (held_) {
          pending_.emplace_back(m.position, o);
          continue;
        }
      }
      report(m.position, o, o == Outcome::ok ? "" : "scripted failure");
    }
  }

 private:
  Script script_;
  std::mutex mutex_;
  bool held_ = false;
  std::map<std::int64_t, int> attempts_;
  std::vector<std::int64_t> published_, delivered_;
  std::vector<std::pair<std::int64_t, Outcome>> pending_;
};

}  // namespace fakes

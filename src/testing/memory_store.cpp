#include "outbox/testing/memory_store.hpp"

#include <algorithm>

#include "outbox/errors.hpp"
#include "outbox/replay.hpp"

namespace outbox::testing {

void MemoryStore::append(std::int64_t position, std::string key, Headers headers) {
  std::lock_guard lock(mutex_);
  Message m;
  m.headers = std::move(headers);
  m.outbox = "orders";
  m.type = "t";
  m.key = std::move(key);
  m.position = position;
  m.data = {{"n", position}};
  messages_.push_back(std::move(m));
  messages_.back().checkpoint = std::to_string(messages_.size());
  cv_.notify_all();
}

// Reads in commit order from a count of messages passed.
class MemoryStore::MemoryTail final : public Tail {
 public:
  MemoryTail(MemoryStore& s, std::size_t after, std::size_t batch) : s_(s), after_(after), batch_(batch) {}

  std::vector<Message> next(std::chrono::milliseconds wait) override {
    if (s_.tail_failures > 0) {
      --s_.tail_failures;
      throw StoreError("database unavailable (scripted)", true);
    }
    std::unique_lock lock(s_.mutex_);
    const int permanent_after = s_.permanent_failure_after_reads;
    if (permanent_after > 0 && s_.reads_ >= permanent_after) {
      throw StoreError("database disk image is malformed (scripted)", false);
    }
    std::vector<Message> out;
    s_.cv_.wait_for(lock, wait, [&] { return closed_ || ready(); });
    if (closed_) return out;
    while (after_ < s_.messages_.size() && out.size() < batch_) out.push_back(s_.messages_[after_++]);
    dry_ = !ready();
    ++s_.reads_;
    return out;
  }

  std::optional<std::string> idle_checkpoint() override {
    const std::int64_t high_water = s_.idle_high_water;
    if (high_water == 0 || !dry_) return std::nullopt;
    return std::to_string(std::max(static_cast<std::int64_t>(after_), high_water));
  }

  void close() override {
    std::lock_guard lock(s_.mutex_);
    closed_ = true;
    s_.cv_.notify_all();
  }
  bool closed() const override { return closed_; }

 private:
  bool ready() const { return s_.messages_.size() > after_; }

  MemoryStore& s_;
  std::size_t after_;
  std::size_t batch_;
  bool closed_ = false;
  bool dry_ = false;
};

std::unique_ptr<Tail> MemoryStore::tail(const std::string&, const Cursor& from, const TailOptions& options) {
  if (open_failures > 0) {
    --open_failures;
    throw StoreError("database unavailable (scripted)", true);
  }
  std::size_t after = 0;
  if (from.kind == Cursor::Kind::after) after = static_cast<std::size_t>(std::stoll(from.checkpoint));
  if (from.kind == Cursor::Kind::end) after = messages_.size();
  return std::make_unique<MemoryTail>(*this, after, options.batch_size);
}

std::string MemoryStore::checkpoint_at_end(const std::string&) {
  std::lock_guard lock(mutex_);
  return std::to_string(messages_.size());
}

std::optional<std::string> MemoryStore::acquire(const ConsumerRef& ref, std::chrono::seconds) {
  if (acquire_failures > 0) {
    --acquire_failures;
    throw StoreError(acquire_error, acquire_retryable);
  }
  std::lock_guard lock(mutex_);
  if (!owner_.empty() && owner_ != ref.owner) throw LeaseLost("held by " + owner_);
  owner_ = ref.owner;
  return checkpoint_;
}

void MemoryStore::save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds,
                                  const std::string&) {
  if (save_failures > 0) {
    --save_failures;
    throw StoreError("database unavailable (scripted)", true);
  }
  std::lock_guard lock(mutex_);
  if (ref.owner != owner_) throw LeaseLost("lost");
  if (checkpoint_ && std::stoll(checkpoint) < std::stoll(*checkpoint_)) backwards_ = true;
  checkpoint_ = checkpoint;
  saved_.push_back(std::stoll(checkpoint));
}

void MemoryStore::release(const ConsumerRef& ref) {
  std::lock_guard lock(mutex_);
  if (ref.owner == owner_) owner_.clear();
}

void MemoryStore::seek(const std::string&, const std::string&, const std::string& checkpoint) {
  std::lock_guard lock(mutex_);
  checkpoint_ = checkpoint;
}

void MemoryStore::dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) {
  std::lock_guard lock(mutex_);
  DeadLetter d;
  d.id = static_cast<std::int64_t>(dead_.size()) + 1;
  d.consumer = consumer;
  d.message = m;
  d.error = error;
  d.attempts = attempts;
  dead_.push_back(std::move(d));
}

std::vector<DeadLetter> MemoryStore::dead_letters(const std::string&, std::size_t limit) {
  std::lock_guard lock(mutex_);
  return {dead_.begin(), dead_.begin() + static_cast<std::ptrdiff_t>(std::min(limit, dead_.size()))};
}

std::vector<ReplayedDeadLetter> MemoryStore::replay_dead_letters(const std::string& outbox,
                                                                 const DeadLetterFilter& which, bool force) {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> chosen;
  for (const auto& d : dead_) {
    if (matches(d, which, now())) chosen.push_back(d);
  }
  if (!chosen.empty() && !force && !owner_.empty()) throw consumer_in_use(outbox, chosen[0].consumer, owner_, 0);
  sort_for_replay(chosen);
  std::vector<ReplayedDeadLetter> out;
  for (const auto& d : chosen) {
    Message m = replay_message(d, outbox);
    std::int64_t last = 0;
    for (const auto& have : messages_) last = std::max(last, have.position);
    m.position = last + 1;
    messages_.push_back(std::move(m));
    messages_.back().checkpoint = std::to_string(messages_.size());
    out.push_back({d.id, d.consumer, d.message.id, d.message.position, last + 1});
    std::erase_if(dead_, [&](const DeadLetter& x) { return x.id == d.id; });
  }
  cv_.notify_all();
  return out;
}

std::vector<DeadLetter> MemoryStore::purge_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                        bool force) {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> chosen;
  for (const auto& d : dead_) {
    if (matches(d, which, now())) chosen.push_back(d);
  }
  if (!chosen.empty() && !force && !owner_.empty()) throw consumer_in_use(outbox, chosen[0].consumer, owner_, 0);
  std::erase_if(dead_, [&](const DeadLetter& x) { return matches(x, which, now()); });
  return chosen;
}

OutboxStatus MemoryStore::status(const std::string& outbox) {
  std::lock_guard lock(mutex_);
  OutboxStatus s;
  s.name = outbox;
  s.count = static_cast<std::int64_t>(messages_.size());
  s.dead_letters = static_cast<std::int64_t>(dead_.size());
  return s;
}

std::optional<std::int64_t> MemoryStore::checkpoint() {
  std::lock_guard lock(mutex_);
  if (!checkpoint_) return std::nullopt;
  return std::stoll(*checkpoint_);
}

std::vector<std::int64_t> MemoryStore::saved() {
  std::lock_guard lock(mutex_);
  return saved_;
}

bool MemoryStore::went_backwards() {
  std::lock_guard lock(mutex_);
  return backwards_;
}

std::string MemoryStore::owner() {
  std::lock_guard lock(mutex_);
  return owner_;
}

int MemoryStore::reads() {
  std::lock_guard lock(mutex_);
  return reads_;
}

void MemoryStore::set_owner(std::string owner) {
  std::lock_guard lock(mutex_);
  owner_ = std::move(owner);
}

}  // namespace outbox::testing

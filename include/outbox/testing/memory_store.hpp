// Test double: an in-memory Store for unit-testing code that drives a relay (the project's own
// relay tests use it; so can yours). It proves nothing about a real database.
//
// Messages are appended in *commit order*, which need not be position order: a PostgreSQL tail
// delivers a transaction that took a low position and committed late after higher positions. The
// checkpoint is therefore the number of messages passed in commit order (as a decimal string), not
// a position; for messages appended with positions 1, 2, 3, ... the two are the same.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "outbox/store.hpp"

namespace outbox::testing {

class MemoryStore final : public Store {
 public:
  // Commits one message (outbox "orders", type "t") with this position, key and headers.
  void append(std::int64_t position, std::string key = "k", Headers headers = {});

  void init(const std::string&) override {}
  std::vector<std::string> outboxes() override { return {"orders"}; }
  Message put(const SchemaRegistry&, Message m) override { return m; }
  std::unique_ptr<Tail> tail(const std::string& outbox, const Cursor& from, const TailOptions& options) override;
  std::string checkpoint_before(std::int64_t position) override { return std::to_string(position - 1); }
  std::string checkpoint_at_end(const std::string&) override;
  std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) override;
  bool concurrent_relay_writes() const override { return true; }  // everything under mutex_
  void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override;
  void release(const ConsumerRef& ref) override;
  void seek(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) override;
  void dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) override;
  std::vector<DeadLetter> dead_letters(const std::string& outbox, std::size_t limit) override;
  // Replays append after the highest position so far; both refuse while any relay holds the lease.
  std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                      bool force) override;
  std::vector<DeadLetter> purge_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                             bool force) override;
  RetentionResult enforce_retention(const std::string&, const RetentionPolicy&) override { return {}; }
  OutboxStatus status(const std::string& outbox) override;

  // What a test inspects.
  std::optional<std::int64_t> checkpoint();  // the saved checkpoint (messages passed), if any
  std::vector<std::int64_t> saved();         // every checkpoint saved, in order
  bool went_backwards();                     // a save was lower than the one before it
  std::string owner();                       // the lease holder ("" when released)
  int reads();                               // tail reads that returned (with or without messages)
  void set_owner(std::string owner);

  // Scripted failures: the next N calls throw StoreError.
  std::atomic<int> tail_failures{0};     // tail reads: retryable "database unavailable"
  std::atomic<int> save_failures{0};     // checkpoint saves: retryable
  std::atomic<int> open_failures{0};     // tail(): retryable
  std::atomic<int> acquire_failures{0};  // acquire(): StoreError(acquire_error, acquire_retryable)
  std::string acquire_error = "database unavailable (scripted)";
  bool acquire_retryable = true;
  // Tail reads after the first `permanent_failure_after_reads` throw a permanent StoreError (a
  // corrupt database); 0 = never.
  std::atomic<int> permanent_failure_after_reads{0};
  // Non-zero: tails offer idle checkpoints (like a change stream's post-batch resume token) up to
  // this value once a read ran dry. Keep it past every appended message.
  std::atomic<std::int64_t> idle_high_water{0};

 private:
  class MemoryTail;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Message> messages_;  // in commit order
  std::optional<std::string> checkpoint_;
  std::vector<std::int64_t> saved_;
  std::vector<DeadLetter> dead_;
  std::string owner_;
  bool backwards_ = false;
  int reads_ = 0;
};

}  // namespace outbox::testing

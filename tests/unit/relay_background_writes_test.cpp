// The relay saves its checkpoints (lease renewals) and runs retention on a thread of its own
// (src/core/relay_writer): a write that waits for the database (a busy SQLite writer holds the write
// lock) must not hold up reading, publishing or acknowledging; what a background write ends with is
// still handled on the relay thread; the checkpoint never goes backwards and ends at the
// acknowledged prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "core/relay_writer.hpp"
#include "outbox/errors.hpp"
#include "outbox/relay.hpp"
#include "outbox/testing/memory_store.hpp"
#include "outbox/testing/scripted_sink.hpp"
#include "relay_test_support.hpp"

using namespace outbox;
using outbox::relay_test::eventually;
using outbox::relay_test::fast_options;
using outbox::relay_test::kBound;
using outbox::relay_test::range;
using outbox::testing::MemoryStore;
using outbox::testing::ScriptedSink;

namespace {

// A gate a thread waits at until a test opens it (or the safety bound passes).
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 3 * kBound, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Forwards to a MemoryStore; an armed save_checkpoint first waits at a gate (a database whose
// write lock another connection holds). Records which threads saved and whether a save ever ran
// beside release().
class GatedStore final : public Store {
 public:
  explicit GatedStore(MemoryStore& inner, bool concurrent = true) : inner_(inner), concurrent_(concurrent) {}

  // The next save waits at the gate until open_gate().
  void arm() {
    std::lock_guard lock(mutex_);
    armed_ = true;
  }
  // The next retention round waits at the gate until open_gate() (a delete waiting for the write
  // lock), then reports `deleted` messages deleted.
  void arm_retention(std::int64_t deleted) {
    std::lock_guard lock(mutex_);
    retention_armed_ = true;
    retention_deleted_ = deleted;
  }
  bool retention_blocked() const { return retention_blocked_.load(); }
  std::vector<std::thread::id> retention_threads() {
    std::lock_guard lock(mutex_);
    return retention_threads_;
  }
  // The next retention round fails with `error`.
  void fail_retention(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    retention_error_ = std::move(error);
  }
  void open_gate() { gate_.open(); }
  bool blocked() const { return blocked_.load(); }
  bool saved_beside_release() const { return beside_release_.load(); }
  std::vector<std::thread::id> save_threads() {
    std::lock_guard lock(mutex_);
    return save_threads_;
  }

  void init(const std::string& o) override { inner_.init(o); }
  std::vector<std::string> outboxes() override { return inner_.outboxes(); }
  Message put(const SchemaRegistry& r, Message m) override { return inner_.put(r, std::move(m)); }
  std::unique_ptr<Tail> tail(const std::string& o, const Cursor& from, const TailOptions& options) override {
    return inner_.tail(o, from, options);
  }
  std::string checkpoint_before(std::int64_t p) override { return inner_.checkpoint_before(p); }
  std::string checkpoint_at_end(const std::string& o) override { return inner_.checkpoint_at_end(o); }
  std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) override {
    return inner_.acquire(ref, ttl);
  }
  bool concurrent_relay_writes() const override { return concurrent_; }
  void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override {
    bool wait = false;
    {
      std::lock_guard lock(mutex_);
      save_threads_.push_back(std::this_thread::get_id());
      wait = std::exchange(armed_, false);
    }
    in_save_ = true;
    if (wait) {
      blocked_ = true;
      gate_.wait();
      blocked_ = false;
    }
    try {
      inner_.save_checkpoint(ref, checkpoint, ttl, health);
    } catch (...) {
      in_save_ = false;
      throw;
    }
    in_save_ = false;
  }
  void release(const ConsumerRef& ref) override {
    if (in_save_) beside_release_ = true;
    inner_.release(ref);
  }
  void seek(const std::string& o, const std::string& c, const std::string& checkpoint) override {
    inner_.seek(o, c, checkpoint);
  }
  void dead_letter(const std::string& c, const Message& m, const std::string& e, int attempts) override {
    inner_.dead_letter(c, m, e, attempts);
  }
  std::vector<DeadLetter> dead_letters(const std::string& o, std::size_t limit) override {
    return inner_.dead_letters(o, limit);
  }
  std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& o, const DeadLetterFilter& w,
                                                      bool force) override {
    return inner_.replay_dead_letters(o, w, force);
  }
  std::vector<DeadLetter> purge_dead_letters(const std::string& o, const DeadLetterFilter& w, bool force) override {
    return inner_.purge_dead_letters(o, w, force);
  }
  RetentionResult enforce_retention(const std::string& o, const RetentionPolicy& p) override {
    bool wait = false;
    std::exception_ptr error;
    RetentionResult result = inner_.enforce_retention(o, p);
    {
      std::lock_guard lock(mutex_);
      retention_threads_.push_back(std::this_thread::get_id());
      wait = std::exchange(retention_armed_, false);
      error = std::exchange(retention_error_, nullptr);
      if (wait) result.deleted = retention_deleted_;
    }
    if (error) std::rethrow_exception(error);
    if (wait) {
      retention_blocked_ = true;
      gate_.wait();
      retention_blocked_ = false;
    }
    return result;
  }
  OutboxStatus status(const std::string& o) override { return inner_.status(o); }

 private:
  MemoryStore& inner_;
  const bool concurrent_;
  std::mutex mutex_;
  bool armed_ = false;
  std::vector<std::thread::id> save_threads_;
  bool retention_armed_ = false;
  std::int64_t retention_deleted_ = 0;
  std::exception_ptr retention_error_;
  std::vector<std::thread::id> retention_threads_;
  Gate gate_;
  std::atomic<bool> blocked_{false}, in_save_{false}, beside_release_{false}, retention_blocked_{false};
};

// Runs until stopped, saving as often as it may.
RelayOptions running_options() {
  RelayOptions o = fast_options();
  o.checkpoint_interval = std::chrono::milliseconds(1);
  o.stop_when_idle = false;
  return o;
}

// Runs the relay on a thread; keeps what it threw. On the way out (also when a check failed) it
// opens the store's gate, then stops the relay: no test leaves a thread behind.
struct Running {
  Running(Relay& r, GatedStore& s)
      : relay(r), store(s), thread([this] {
          try {
            relay.run();
          } catch (...) {
            error = std::current_exception();
          }
          done = true;
        }) {}
  ~Running() {
    store.open_gate();
    if (thread.joinable()) {
      relay.stop();
      thread.join();
    }
  }
  void join() { thread.join(); }
  Relay& relay;
  GatedStore& store;
  std::exception_ptr error;
  std::atomic<bool> done{false};
  std::thread thread;
};

// Runs the relay to its end on a thread of its own; returns that thread's id.
std::thread::id run_on_a_thread_of_its_own(Relay& relay) {
  std::thread::id id;
  std::thread t([&] {
    id = std::this_thread::get_id();
    relay.run();
  });
  t.join();
  return id;
}

}  // namespace

// The stall this fixes: the relay thread waited inside save_checkpoint while the database's write
// lock was taken, and read, published and acknowledged nothing meanwhile.
TEST(RelayBackgroundWrites, DeliveryGoesOnWhileASaveIsBlocked) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 10; ++i) inner.append(i);
  store.arm();  // the first save (after the first acknowledgements) blocks
  ScriptedSink sink;
  Relay relay(store, sink, running_options());
  Running running(relay, store);
  ASSERT_TRUE(eventually([&] { return store.blocked(); })) << "no checkpoint save was made";
  for (int i = 11; i <= 1000; ++i) inner.append(i);
  EXPECT_TRUE(eventually([&] { return relay.stats().acknowledged == 1000; }))
      << "while a save was blocked the relay acknowledged " << relay.stats().acknowledged << " of 1000";
  EXPECT_TRUE(store.blocked()) << "the save must still be blocked for this test to mean anything";
  EXPECT_EQ(sink.delivered(), range(1, 1000));
  EXPECT_FALSE(inner.checkpoint().has_value()) << "nothing is saved while the save is blocked";
  EXPECT_EQ(relay.stats().checkpoints, 0) << "a save that has not finished is not counted";
  store.open_gate();
  EXPECT_TRUE(eventually([&] { return inner.checkpoint() == 1000; }));
  relay.stop();
  running.join();
  EXPECT_FALSE(running.error);
  EXPECT_EQ(inner.checkpoint(), 1000);
  EXPECT_FALSE(inner.went_backwards());
  const auto saved = inner.saved();
  EXPECT_LT(saved.size(), 1000u) << "posts made while the save was blocked coalesce";
  EXPECT_EQ(relay.stats().checkpoints, static_cast<std::int64_t>(saved.size()));
}

// A lease lost in a background save ends the relay with LeaseLost, as one lost in its own save did.
TEST(RelayBackgroundWrites, LeaseLostInABackgroundSaveEndsTheRelay) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 10; ++i) inner.append(i);
  store.arm();
  ScriptedSink sink;
  Relay relay(store, sink, running_options());
  Running running(relay, store);
  ASSERT_TRUE(eventually([&] { return store.blocked(); }));
  inner.set_owner("other-relay");  // a standby took the consumer over while the save waited
  store.open_gate();
  for (int i = 11; i <= 20; ++i) inner.append(i);
  ASSERT_TRUE(eventually([&] { return running.done.load(); })) << "the relay went on after losing its lease";
  running.join();
  ASSERT_TRUE(running.error);
  EXPECT_THROW(std::rethrow_exception(running.error), LeaseLost);
  EXPECT_EQ(inner.owner(), "other-relay") << "the relay that lost the lease must not release it";
  EXPECT_EQ(relay.stats().checkpoints, 0);
}

// A retryable error in a background save (database unavailable) is waited out and the save made
// again; the relay goes on, and only the saves that succeeded are counted.
TEST(RelayBackgroundWrites, ARetryableErrorInABackgroundSaveIsRetriedAndTheRelayGoesOn) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 100; ++i) inner.append(i);
  inner.save_failures = 3;
  ScriptedSink sink;
  auto options = running_options();
  options.batch_size = 10;
  Relay relay(store, sink, options);
  Running running(relay, store);
  ASSERT_TRUE(eventually([&] { return inner.save_failures == 0; }));
  for (int i = 101; i <= 300; ++i) inner.append(i);
  ASSERT_TRUE(eventually([&] { return inner.checkpoint() == 300; }));
  relay.stop();
  running.join();
  EXPECT_FALSE(running.error);
  EXPECT_EQ(sink.delivered(), range(1, 300)) << "each message once, in order";
  EXPECT_EQ(inner.checkpoint(), 300);
  EXPECT_FALSE(inner.went_backwards());
  const auto s = relay.stats();
  EXPECT_EQ(s.checkpoints, static_cast<std::int64_t>(inner.saved().size())) << "failed saves were counted";
  EXPECT_EQ(s.last_position, 300);
}

// Stopping while a save is blocked: the relay waits for it, then saves the acknowledged prefix
// itself (never past an unacknowledged message), and releases the lease only after every save.
TEST(RelayBackgroundWrites, StopWaitsForTheSaverAndSavesTheAcknowledgedPrefix) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 10; ++i) inner.append(i);
  ScriptedSink sink;
  sink.hold(true);
  auto options = running_options();
  options.shutdown_timeout = std::chrono::milliseconds(100);
  Relay relay(store, sink, options);
  Running running(relay, store);
  ASSERT_TRUE(eventually([&] { return sink.pending() == 10; }));
  store.arm();
  sink.release_if([](std::int64_t p) { return p <= 3; });
  ASSERT_TRUE(eventually([&] { return store.blocked(); }));  // saving 3
  sink.release_if([](std::int64_t p) { return p <= 6; });
  ASSERT_TRUE(eventually([&] { return relay.stats().acknowledged == 6; }));
  std::thread stopper([&] { relay.stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the drain ends; the blocked save still waits
  EXPECT_EQ(inner.owner(), "test-relay") << "the lease was released while a save was running";
  store.open_gate();
  stopper.join();
  running.join();
  EXPECT_FALSE(running.error);
  EXPECT_EQ(inner.checkpoint(), 6) << "the final checkpoint is the acknowledged prefix";
  EXPECT_FALSE(inner.went_backwards());
  EXPECT_FALSE(store.saved_beside_release());
  EXPECT_EQ(inner.owner(), "");
  EXPECT_EQ(relay.stats().last_position, 6);
}

// Many acknowledgements arriving out of order while saves are slow: every save is of a later (or
// the same) prefix than the one before, and the last one is the end.
TEST(RelayBackgroundWrites, CheckpointsNeverGoBackwards) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 2000; ++i) inner.append(i);
  ScriptedSink sink;
  sink.hold(true);
  auto options = running_options();
  options.batch_size = 50;
  options.checkpoint_interval = std::chrono::milliseconds(0);
  Relay relay(store, sink, options);
  Running running(relay, store);
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    ASSERT_TRUE(eventually([&] { return sink.pending() > 0 || relay.stats().acknowledged == 2000; }));
    sink.release_shuffled(seed);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sink.hold(false);
  sink.release_shuffled(0);
  ASSERT_TRUE(eventually([&] { return inner.checkpoint() == 2000; }));
  relay.stop();
  running.join();
  const auto saved = inner.saved();
  EXPECT_TRUE(std::is_sorted(saved.begin(), saved.end()));
  EXPECT_FALSE(inner.went_backwards());
  EXPECT_EQ(inner.checkpoint(), 2000);
  EXPECT_EQ(relay.stats().last_position, 2000);
}

// A store that does not say its saves are safe beside its other calls is saved on the relay
// thread, as before; one that does is saved from the saver's thread.
TEST(RelayBackgroundWrites, OnlyStoresThatAllowItAreSavedFromAnotherThread) {
  for (const bool concurrent : {false, true}) {
    MemoryStore inner;
    GatedStore store(inner, concurrent);
    for (int i = 1; i <= 50; ++i) inner.append(i);
    ScriptedSink sink;
    auto options = running_options();
    options.batch_size = 5;
    options.checkpoint_interval = std::chrono::milliseconds(0);
    options.stop_when_idle = true;
    Relay relay(store, sink, options);
    const auto relay_thread = run_on_a_thread_of_its_own(relay);
    EXPECT_EQ(inner.checkpoint(), 50);
    const auto threads = store.save_threads();
    const auto elsewhere = std::count_if(threads.begin(), threads.end(), [&](auto id) { return id != relay_thread; });
    if (concurrent) {
      EXPECT_GT(elsewhere, 0) << "no save was made in the background";
    } else {
      EXPECT_EQ(elsewhere, 0) << "a save was made off the relay thread for a store that does not allow it";
    }
  }
}

// Retention is a write as well (a DELETE that waits for a busy writer's lock on SQLite); it ran on
// the relay thread, which read, published and acknowledged nothing while it waited.
TEST(RelayBackgroundWrites, DeliveryGoesOnWhileRetentionIsBlocked) {
  MemoryStore inner;
  GatedStore store(inner);
  for (int i = 1; i <= 10; ++i) inner.append(i);
  store.arm_retention(7);  // the first round (due at once) blocks
  ScriptedSink sink;
  auto options = running_options();
  options.retention = RetentionPolicy{};
  Relay relay(store, sink, options);
  Running running(relay, store);
  ASSERT_TRUE(eventually([&] { return store.retention_blocked(); })) << "no retention round was run";
  for (int i = 11; i <= 1000; ++i) inner.append(i);
  EXPECT_TRUE(eventually([&] { return relay.stats().acknowledged == 1000; }))
      << "while retention was blocked the relay acknowledged " << relay.stats().acknowledged << " of 1000";
  EXPECT_TRUE(store.retention_blocked()) << "retention must still be blocked for this test to mean anything";
  EXPECT_EQ(relay.stats().retention_deleted, 0) << "a round that has not finished is not counted";
  // The saves wait for the round (the store makes one write at a time), then catch up.
  store.open_gate();
  EXPECT_TRUE(eventually([&] { return relay.stats().retention_deleted == 7; }));
  EXPECT_TRUE(eventually([&] { return inner.checkpoint() == 1000; }));
  relay.stop();
  running.join();
  EXPECT_FALSE(running.error);
  EXPECT_EQ(sink.delivered(), range(1, 1000));
  EXPECT_EQ(inner.checkpoint(), 1000);
}

// A retention round that fails in the background is handed to the relay thread: a retryable error
// is waited out and the relay goes on; a permanent one ends the relay, as when it ran there.
TEST(RelayBackgroundWrites, ARetentionErrorIsHandledOnTheRelayThread) {
  for (const bool retryable : {true, false}) {
    MemoryStore inner;
    GatedStore store(inner);
    for (int i = 1; i <= 10; ++i) inner.append(i);
    store.fail_retention(std::make_exception_ptr(StoreError("disk I/O error (scripted)", retryable)));
    ScriptedSink sink;
    auto options = running_options();
    options.retention = RetentionPolicy{};
    Relay relay(store, sink, options);
    Running running(relay, store);
    if (retryable) {
      ASSERT_TRUE(eventually([&] { return !store.retention_threads().empty(); }));
      for (int i = 11; i <= 20; ++i) inner.append(i);
      EXPECT_TRUE(eventually([&] { return inner.checkpoint() == 20; }));
      relay.stop();
      running.join();
      EXPECT_FALSE(running.error);
      EXPECT_EQ(sink.delivered(), range(1, 20));
    } else {
      ASSERT_TRUE(eventually([&] { return running.done.load(); })) << "a permanent retention error must end the relay";
      running.join();
      ASSERT_TRUE(running.error);
      EXPECT_THROW(std::rethrow_exception(running.error), StoreError);
      EXPECT_EQ(inner.owner(), "") << "the lease is released on the way out";
    }
  }
}

// Retention runs from the writer's thread only for stores that allow it; a drain's last round runs
// after its last save (it keeps what the saved checkpoints have not passed) and is counted.
TEST(RelayBackgroundWrites, OnlyStoresThatAllowItRunRetentionFromAnotherThread) {
  for (const bool concurrent : {false, true}) {
    MemoryStore inner;
    GatedStore store(inner, concurrent);
    for (int i = 1; i <= 50; ++i) inner.append(i);
    ScriptedSink sink;
    auto options = running_options();
    options.batch_size = 5;
    options.retention = RetentionPolicy{};
    options.retention_interval = std::chrono::seconds(0);  // a round every turn
    options.stop_when_idle = true;
    Relay relay(store, sink, options);
    const auto relay_thread = run_on_a_thread_of_its_own(relay);
    EXPECT_EQ(inner.checkpoint(), 50);
    const auto threads = store.retention_threads();
    ASSERT_GE(threads.size(), 2u) << "the first round and the drain's last one";
    EXPECT_EQ(threads.back(), relay_thread) << "the drain's last round runs on the relay thread, after its last save";
    const auto elsewhere = std::count_if(threads.begin(), threads.end(), [&](auto id) { return id != relay_thread; });
    if (concurrent) {
      EXPECT_GT(elsewhere, 0) << "no retention round was run in the background";
    } else {
      EXPECT_EQ(elsewhere, 0) << "retention ran off the relay thread for a store that does not allow it";
    }
  }
}

// The writer itself.

namespace {
// The retention round of writers whose tests are about saves.
RetentionResult no_retention() { return {}; }
}  // namespace
TEST(RelayWriter, WritesOnlyTheNewestPendingPostAfterABlockedSave) {
  std::mutex m;
  std::vector<std::string> written;
  Gate gate;
  std::atomic<bool> blocked{false};
  detail::RelayWriter saver(
      [&](const std::string& checkpoint, const std::string&) {
        if (checkpoint == "1") {
          blocked = true;
          gate.wait();
        }
        std::lock_guard lock(m);
        written.push_back(checkpoint);
      },
      no_retention, true);
  saver.post("1", 1, "ok");
  ASSERT_TRUE(eventually([&] { return blocked.load(); }));
  saver.post("2", 2, "ok");
  saver.post("3", 3, "ok");
  EXPECT_EQ(saver.take().saved, 0);
  gate.open();
  saver.wait_idle();
  EXPECT_EQ(written, (std::vector<std::string>{"1", "3"}));
  const auto outcome = saver.take();
  EXPECT_EQ(outcome.saved, 2);
  EXPECT_EQ(outcome.last_position, 3);
  EXPECT_FALSE(outcome.error);
}

TEST(RelayWriter, HandsAFailureBackOnceAndASynchronousSaveSupersedesIt) {
  std::atomic<int> calls{0};
  detail::RelayWriter saver(
      [&](const std::string& checkpoint, const std::string&) {
        ++calls;
        if (checkpoint == "bad") throw StoreError("database unavailable (scripted)", true);
      },
      no_retention, true);
  saver.post("bad", 1, "ok");
  saver.wait_idle();
  auto outcome = saver.take();
  ASSERT_TRUE(outcome.error);
  EXPECT_THROW(std::rethrow_exception(outcome.error), StoreError);
  EXPECT_EQ(outcome.saved, 0);
  EXPECT_FALSE(saver.take().error) << "handed back once";
  saver.post("bad", 1, "ok");
  saver.wait_idle();
  saver.save_now("good", 2, "ok");
  outcome = saver.take();
  EXPECT_FALSE(outcome.error) << "the newer synchronous save's outcome is the one that counts";
  EXPECT_EQ(outcome.saved, 1);
  EXPECT_EQ(outcome.last_position, 2);
  EXPECT_EQ(calls, 3);
}

TEST(RelayWriter, SavesOnTheCallersThreadWhenNotInTheBackground) {
  std::thread::id saved_on;
  detail::RelayWriter saver(
      [&](const std::string& checkpoint, const std::string&) {
        saved_on = std::this_thread::get_id();
        if (checkpoint == "bad") throw LeaseLost("lost (scripted)");
      },
      no_retention, false);
  saver.post("1", 1, "ok");
  EXPECT_EQ(saved_on, std::this_thread::get_id());
  EXPECT_EQ(saver.take().saved, 1);
  EXPECT_THROW(saver.post("bad", 2, "ok"), LeaseLost);
}

// Retention posted while a round runs is one more round, not one per post; a save waiting beside it
// goes first (it renews the lease); what the rounds deleted is handed back once.
TEST(RelayWriter, CoalescesRetentionRoundsAndSavesFirst) {
  std::mutex m;
  std::vector<std::string> written;
  Gate gate;
  std::atomic<bool> blocked{false};
  detail::RelayWriter writer(
      [&](const std::string& checkpoint, const std::string&) {
        std::lock_guard lock(m);
        written.push_back(checkpoint);
      },
      [&] {
        if (!blocked.exchange(true)) gate.wait();
        std::lock_guard lock(m);
        written.push_back("retention");
        return RetentionResult{5, 1};
      },
      true);
  writer.post_retention();
  ASSERT_TRUE(eventually([&] { return blocked.load(); }));
  writer.post_retention();
  writer.post_retention();
  writer.post("1", 1, "ok");
  EXPECT_EQ(writer.take().retained.deleted, 0) << "a round that has not finished is not counted";
  gate.open();
  writer.wait_idle();
  EXPECT_EQ(written, (std::vector<std::string>{"retention", "1", "retention"}));
  const auto outcome = writer.take();
  EXPECT_EQ(outcome.retained.deleted, 10);
  EXPECT_EQ(outcome.retained.dropped_unpublished, 2);
  EXPECT_EQ(outcome.saved, 1);
  EXPECT_EQ(writer.take().retained.deleted, 0) << "handed back once";
}

// retain_now waits for the background round and runs its own on the caller's thread; a failure
// there is thrown to the caller, one in the background is handed back by take().
TEST(RelayWriter, RetainNowRunsOnTheCallersThreadAndBackgroundFailuresAreHandedBack) {
  std::atomic<int> calls{0};
  std::thread::id last_thread;
  detail::RelayWriter writer([](const std::string&, const std::string&) {},
                             [&] {
                               last_thread = std::this_thread::get_id();
                               if (++calls == 1) throw StoreError("database is locked (scripted)", true);
                               return RetentionResult{3, 0};
                             },
                             true);
  writer.post_retention();
  writer.wait_idle();
  auto outcome = writer.take();
  ASSERT_TRUE(outcome.error);
  EXPECT_THROW(std::rethrow_exception(outcome.error), StoreError);
  EXPECT_NE(last_thread, std::this_thread::get_id());
  writer.retain_now();
  EXPECT_EQ(last_thread, std::this_thread::get_id());
  outcome = writer.take();
  EXPECT_FALSE(outcome.error);
  EXPECT_EQ(outcome.retained.deleted, 3);
  EXPECT_EQ(calls, 2);
}

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "outbox/errors.hpp"
#include "outbox/relay.hpp"
#include "outbox/replay.hpp"
#include "outbox/testing/memory_store.hpp"
#include "outbox/testing/scripted_sink.hpp"
#include "relay_test_support.hpp"

using namespace outbox;
using outbox::testing::MemoryStore;
using outbox::testing::ScriptedSink;

using outbox::relay_test::eventually;
using outbox::relay_test::fast_options;
using outbox::relay_test::range;

TEST(Relay, DeliversInOrderAndCheckpointsTheEnd) {
  MemoryStore store;
  for (int i = 1; i <= 2500; ++i) store.append(i);
  ScriptedSink sink;
  Relay relay(store, sink, fast_options());
  relay.run();
  EXPECT_EQ(sink.delivered(), range(1, 2500));
  EXPECT_EQ(store.checkpoint(), 2500);
  EXPECT_EQ(relay.stats().acknowledged, 2500);
  EXPECT_FALSE(store.went_backwards());
}

TEST(Relay, ResumesAfterTheSavedCheckpoint) {
  MemoryStore store;
  for (int i = 1; i <= 10; ++i) store.append(i);
  store.seek("orders", "default", "6");
  ScriptedSink sink;
  Relay(store, sink, fast_options()).run();
  EXPECT_EQ(sink.delivered(), range(7, 10));
}

TEST(Relay, CheckpointCoversOnlyTheAcknowledgedPrefix) {
  MemoryStore store;
  for (int i = 1; i <= 10; ++i) store.append(i);
  ScriptedSink sink;
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return sink.pending() == 10; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(store.checkpoint().has_value()) << "nothing was acknowledged yet";
  sink.release_reversed();  // 10 first, 1 last: only the last ack completes the prefix
  ASSERT_TRUE(eventually([&] { return store.checkpoint() == 10; }));
  relay.stop();
  runner.join();
  for (auto p : store.saved()) EXPECT_EQ(p, 10) << "a checkpoint past an unacknowledged message was saved";
}

TEST(Relay, StopWithUnacknowledgedMessagesKeepsThemForTheNextRun) {
  MemoryStore store;
  for (int i = 1; i <= 5; ++i) store.append(i);
  ScriptedSink sink;
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  options.shutdown_timeout = std::chrono::milliseconds(50);
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return sink.pending() == 5; }));
  relay.stop();
  runner.join();
  // The drain renews the lease, which saves the checkpoint as it is: still before the first message.
  EXPECT_EQ(store.checkpoint().value_or(0), 0) << "nothing acknowledged, so nothing may count as passed";
}

TEST(Relay, RetryableFailuresAreRetriedInOrderWithoutLimit) {
  MemoryStore store;
  for (int i = 1; i <= 6; ++i) store.append(i);
  // Message 3 fails 7 times (more than max_attempts): retryable failures never dead-letter.
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) {
    return p == 3 && attempt <= 7 ? Outcome::retryable : Outcome::ok;
  });
  auto options = fast_options();
  options.batch_size = 1;
  options.max_attempts = 2;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), range(1, 6)) << "a later message overtook the one being retried";
  EXPECT_EQ(relay.stats().retries, 7);
  EXPECT_EQ(relay.stats().dead_lettered, 0);
  EXPECT_TRUE(store.dead_letters("orders", 10).empty());
  EXPECT_EQ(store.checkpoint(), 6);
}

TEST(Relay, FailedBatchIsRetriedBeforeAnythingNewIsRead) {
  MemoryStore store;
  for (int i = 1; i <= 40; ++i) store.append(i);
  // Each batch is 10 messages; the sink fails messages 11..20 on their first attempt, the way a
  // broker fails a partition's queue (everything after the failure fails too).
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) {
    return p > 10 && p <= 20 && attempt == 1 ? Outcome::retryable : Outcome::ok;
  });
  auto options = fast_options();
  options.batch_size = 10;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), range(1, 40));
  const auto published = sink.published();
  // 11..20 twice, and the second time before 21 was ever handed over.
  const auto first21 = std::find(published.begin(), published.end(), 21) - published.begin();
  EXPECT_EQ(std::count(published.begin(), published.begin() + first21, 15), 2);
}

TEST(Relay, PermanentFailuresAreDeadLetteredAfterMaxAttemptsAndTheStreamMovesOn) {
  MemoryStore store;
  for (int i = 1; i <= 5; ++i) store.append(i);
  ScriptedSink sink([](std::int64_t p, int, std::size_t) { return p == 3 ? Outcome::permanent : Outcome::ok; });
  auto options = fast_options();
  options.batch_size = 1;
  options.max_attempts = 3;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), (std::vector<std::int64_t>{1, 2, 4, 5}));
  const auto published = sink.published();
  EXPECT_EQ(std::count(published.begin(), published.end(), 3), 3);
  const auto dead = store.dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 3);
  EXPECT_EQ(dead[0].attempts, 3);
  EXPECT_EQ(dead[0].error, "scripted failure");
  EXPECT_EQ(relay.stats().dead_lettered, 1);
  EXPECT_EQ(store.checkpoint(), 5);
}

TEST(Relay, ABatchRejectedForOneBadMessageDeadLettersOnlyThatMessage) {
  MemoryStore store;
  for (int i = 1; i <= 6; ++i) store.append(i);
  // Like Kafka's max.message.bytes, which applies to a whole record batch: any batch holding
  // message 3 is refused; the others go through when sent without it.
  ScriptedSink sink(
      [](std::int64_t p, int, std::size_t batch) { return p == 3 || batch > 1 ? Outcome::permanent : Outcome::ok; });
  auto options = fast_options();
  options.batch_size = 6;
  options.max_attempts = 2;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), (std::vector<std::int64_t>{1, 2, 4, 5, 6}));
  const auto dead = store.dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 3);
  EXPECT_EQ(store.checkpoint(), 6);
}

// A replayed dead letter is for its own consumer only (outbox/replay.hpp): another consumer's relay
// publishes nothing of it, yet its checkpoint moves past it, also when the outbox ends with such
// messages (else that consumer would show them as lag forever and read them again on each start).
TEST(Relay, PassesOverAnotherConsumersReplaysAndCheckpointsPastThem) {
  MemoryStore store;
  store.append(1);
  store.append(2, "k", {{kReplayForHeader, "billing"}, {kReplayedFromHeader, "1"}});
  store.append(3);
  store.append(4, "k", {{kReplayForHeader, "billing"}});
  store.append(5, "k", {{kReplayForHeader, "billing"}});
  ScriptedSink sink;
  auto options = fast_options();
  options.batch_size = 2;  // batches of one passed-over message, of mixed ones, of ours only
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.published(), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(store.checkpoint(), 5) << "the checkpoint passes the replays meant for 'billing'";
  EXPECT_EQ(relay.stats().published, 2);
}

TEST(Relay, PublishesReplaysMeantForItsOwnConsumer) {
  MemoryStore store;
  store.append(1);
  store.append(2, "k", {{kReplayForHeader, "billing"}});
  store.append(3, "k", {{kReplayForHeader, "audit"}});
  ScriptedSink sink;
  auto options = fast_options();
  options.consumer = "billing";
  Relay(store, sink, options).run();
  EXPECT_EQ(sink.delivered(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(store.checkpoint(), 3);
}

TEST(Relay, RidesOutADatabaseOutageWithoutLosingOrRepeating) {
  MemoryStore store;
  for (int i = 1; i <= 30; ++i) store.append(i);
  store.tail_failures = 3;
  store.save_failures = 2;
  ScriptedSink sink;
  auto options = fast_options();
  options.batch_size = 10;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), range(1, 30)) << "each message once, in order, across tail reopenings";
  EXPECT_EQ(store.checkpoint(), 30);
}

// A database that is down or restarting when the relay starts is waited for (taking the lease,
// opening the tail), as it is later on; a permanent error still ends the relay at once.
TEST(Relay, WaitsForADatabaseThatFailsAtStartUp) {
  MemoryStore store;
  for (int i = 1; i <= 5; ++i) store.append(i);
  store.acquire_failures = 3;
  store.open_failures = 2;
  ScriptedSink sink;
  Relay relay(store, sink, fast_options());
  relay.run();
  EXPECT_EQ(sink.delivered(), range(1, 5));
  EXPECT_EQ(store.acquire_failures, 0);
  EXPECT_EQ(store.open_failures, 0);

  MemoryStore refusing;
  refusing.append(1);
  refusing.acquire_failures = 1;
  refusing.acquire_error = "password authentication failed (scripted)";
  refusing.acquire_retryable = false;
  ScriptedSink unused;
  Relay doomed(refusing, unused, fast_options());
  EXPECT_THROW(doomed.run(), StoreError);
  EXPECT_TRUE(unused.delivered().empty());
}

TEST(Relay, RefusesAConsumerHeldByAnotherRelayUnlessWaiting) {
  MemoryStore store;
  store.set_owner("other-relay");
  ScriptedSink sink;
  auto options = fast_options();
  options.wait_for_lease = false;
  Relay relay(store, sink, options);
  EXPECT_THROW(relay.run(), LeaseLost);
}

TEST(Relay, StandbyTakesOverWhenTheLeaseIsReleased) {
  MemoryStore store;
  store.append(1);
  store.set_owner("other-relay");
  ScriptedSink sink;
  auto options = fast_options();
  options.lease_ttl = std::chrono::seconds(1);
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(sink.delivered().empty()) << "a standby must not publish";
  store.release({"orders", "default", "other-relay"});
  runner.join();
  EXPECT_EQ(sink.delivered(), range(1, 1));
}

// Health checks read state(): a standby says who holds the lease, the lease holder is running, and
// the loop's last turn keeps moving in either.
TEST(Relay, StateShowsStandbyThenRunningAndTheLoopTurning) {
  MemoryStore store;
  store.set_owner("other-relay");
  ScriptedSink sink;
  auto options = fast_options();
  options.stop_when_idle = false;
  options.lease_ttl = std::chrono::seconds(1);
  Relay relay(store, sink, options);
  EXPECT_EQ(relay.state().phase, RelayState::Phase::starting);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return relay.state().phase == RelayState::Phase::standby; }));
  EXPECT_NE(relay.state().standby_reason.find("other-relay"), std::string::npos) << relay.state().standby_reason;
  store.release({"orders", "default", "other-relay"});
  ASSERT_TRUE(eventually([&] { return relay.state().phase == RelayState::Phase::running; }));
  EXPECT_TRUE(relay.state().standby_reason.empty());
  const auto turned = relay.state().last_turn;
  EXPECT_TRUE(eventually([&] { return relay.state().last_turn > turned; })) << "the idle loop keeps turning";
  relay.stop();
  EXPECT_EQ(relay.state().phase, RelayState::Phase::stopping);
  runner.join();
}

// A backoff longer than the lease's TTL (a broker down for many retries) must not cost the lease:
// the relay renews it while it waits, as it does between batches.
TEST(Relay, RenewsTheLeaseWhileWaitingOutABackoffLongerThanItsTtl) {
  MemoryStore store;
  store.append(1);
  ScriptedSink sink(
      [](std::int64_t, int attempt, std::size_t) { return attempt == 1 ? Outcome::retryable : Outcome::ok; });
  auto options = fast_options();
  options.lease_ttl = std::chrono::seconds(1);  // renewed every 333 ms
  options.backoff.initial = std::chrono::milliseconds(1500);
  options.backoff.max = std::chrono::milliseconds(1500);
  options.backoff.jitter = 0;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return sink.published().size() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto before = store.saved().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const auto during = store.saved().size() - before;
  runner.join();
  EXPECT_GE(during, 2u) << "the lease (with the checkpoint) was not renewed during the backoff";
  EXPECT_EQ(sink.delivered(), range(1, 1));
}

TEST(Backoff, GrowsExponentiallyWithBoundedJitterUpToTheCap) {
  Backoff b;
  b.initial = std::chrono::milliseconds(100);
  b.max = std::chrono::milliseconds(1000);
  b.multiplier = 2;
  b.jitter = 0.2;
  EXPECT_EQ(b.delay(1, 0.5).count(), 100);
  EXPECT_EQ(b.delay(2, 0.5).count(), 200);
  EXPECT_EQ(b.delay(4, 0.5).count(), 800);
  EXPECT_EQ(b.delay(5, 0.5).count(), 1000);
  EXPECT_EQ(b.delay(50, 0.5).count(), 1000);
  EXPECT_EQ(b.delay(1, 0.0).count(), 80);
  EXPECT_EQ(b.delay(1, 0.999999).count(), 119);
}

// Idle checkpoints (Tail::idle_checkpoint, e.g. a change stream's post-batch resume token).

bool non_decreasing(const std::vector<std::int64_t>& v) { return std::is_sorted(v.begin(), v.end()); }

TEST(RelayIdleCheckpoint, IsSavedWhenNothingWasEverRead) {
  MemoryStore store;
  store.idle_high_water = 7;
  ScriptedSink sink;
  Relay(store, sink, fast_options()).run();
  EXPECT_TRUE(sink.published().empty());
  EXPECT_EQ(store.checkpoint(), 7);
}

TEST(RelayIdleCheckpoint, TakesOverFromTheLastMessageOnceEverythingIsAcknowledged) {
  MemoryStore store;
  for (int i = 1; i <= 5; ++i) store.append(i);
  store.idle_high_water = 40;
  ScriptedSink sink;
  Relay(store, sink, fast_options()).run();
  EXPECT_EQ(sink.delivered(), range(1, 5));
  EXPECT_EQ(store.checkpoint(), 40);
  EXPECT_TRUE(non_decreasing(store.saved()));
}

TEST(RelayIdleCheckpoint, IsNeverSavedPastAnUnacknowledgedMessage) {
  MemoryStore store;
  for (int i = 1; i <= 10; ++i) store.append(i);
  store.idle_high_water = 50;  // offered by the tail as soon as its first read ran dry
  ScriptedSink sink;
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return sink.pending() == 10; }));
  const int reads = store.reads();
  ASSERT_TRUE(eventually([&] { return store.reads() >= reads + 3; }));  // idle reads with 10 in flight
  EXPECT_FALSE(store.checkpoint().has_value()) << "nothing was acknowledged yet";
  sink.release_reversed();
  ASSERT_TRUE(eventually([&] { return store.checkpoint() == 50; }));
  relay.stop();
  runner.join();
  EXPECT_TRUE(non_decreasing(store.saved()));
  for (auto p : store.saved()) {
    EXPECT_TRUE(p == 10 || p == 50) << "saved " << p << ": only the full prefix or the idle point after it";
  }
}

TEST(RelayIdleCheckpoint, AnUnchangedIdleCheckpointIsSavedOnce) {
  MemoryStore store;
  store.idle_high_water = 7;
  ScriptedSink sink;
  auto options = fast_options();
  options.stop_when_idle = false;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return store.reads() >= 10; }));
  relay.stop();
  runner.join();
  // Once when adopted; the final save on stop has nothing new (lease renewals are 10 s apart).
  EXPECT_EQ(store.saved(), std::vector<std::int64_t>({7}));
}

TEST(RelayIdleCheckpoint, AnAdvancingIdleCheckpointIsSavedThrottled) {
  MemoryStore store;
  store.idle_high_water = 1;
  ScriptedSink sink;
  auto options = fast_options();
  options.stop_when_idle = false;
  options.idle_wait = std::chrono::milliseconds(1);
  options.checkpoint_interval = std::chrono::milliseconds(100);
  Relay relay(store, sink, options);
  const auto start = std::chrono::steady_clock::now();
  std::thread runner([&] { relay.run(); });
  for (int i = 2; i <= 100; ++i) {  // the oplog moves on without messages for this outbox
    store.idle_high_water = i;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  const int reads = store.reads();
  ASSERT_TRUE(eventually([&] { return store.reads() >= reads + 2; }));  // a read has seen 100
  relay.stop();
  runner.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const auto saves = store.saved();
  ASSERT_FALSE(saves.empty());
  EXPECT_EQ(saves.back(), 100) << "stop saves the latest idle point";
  EXPECT_TRUE(non_decreasing(saves));
  // At most one save per checkpoint_interval (plus the first and the one on stop), not one per read.
  EXPECT_LE(static_cast<std::int64_t>(saves.size()), elapsed / options.checkpoint_interval + 2);
  EXPECT_GT(store.reads(), static_cast<int>(saves.size()) * 3);
}

// Late commits: a PostgreSQL tail delivers in commit order, and a transaction that took a low
// position may commit after higher positions were delivered, so the relay sees positions out of
// order (1, 3, 4, 2, ...). An asynchronous broker then acknowledges late and in any order. Every
// message must be acknowledged, the checkpoint must reach the end, and nothing may be published
// twice without a restart. (The old relay searched its window as if it were sorted by position,
// dropped the acknowledgements it could not find, and stalled with its checkpoint stuck.)

namespace {

// Commit order with every third position committed late, after the two above it.
std::vector<std::int64_t> late_commit_order(std::int64_t n) {
  std::vector<std::int64_t> order;
  for (std::int64_t base = 1; base + 2 <= n; base += 3) {
    order.push_back(base + 1);
    order.push_back(base + 2);
    order.push_back(base);
  }
  for (std::int64_t p = static_cast<std::int64_t>(order.size()) + 1; p <= n; ++p) order.push_back(p);
  return order;
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Runs the relay until its checkpoint counts `expected` messages, releasing the sink's held
// outcomes in a new shuffled order on every check (late, out-of-order acknowledgements); false if
// it never gets there.
bool run_with_shuffled_acks(MemoryStore& store, ScriptedSink& sink, Relay& relay, std::int64_t expected) {
  std::thread runner([&] { relay.run(); });
  std::uint64_t seed = 0;
  const bool reached = eventually([&] {
    sink.release_shuffled(++seed);
    return store.checkpoint() == expected;
  });
  relay.stop();
  runner.join();
  return reached;
}

}  // namespace

TEST(RelayLateCommits, SynchronousAcknowledgementsOfNonMonotonePositionsAreAllApplied) {
  MemoryStore store;
  const auto order = late_commit_order(300);
  for (auto p : order) store.append(p);
  ScriptedSink sink;
  auto options = fast_options();
  options.stop_when_idle = false;
  options.batch_size = 7;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  // The old relay stalled here: "142 acknowledged, 158 in flight, checkpoint at position 3".
  EXPECT_TRUE(eventually([&] { return store.checkpoint() == 300; }))
      << "checkpoint stuck at " << store.checkpoint().value_or(0);
  relay.stop();
  runner.join();
  EXPECT_EQ(sink.published(), order) << "handed over once each, in commit order";
  EXPECT_EQ(relay.stats().acknowledged, 300);
  EXPECT_EQ(store.checkpoint(), 300) << "the checkpoint covers every message (counted in commit order)";
}

TEST(RelayLateCommits, LateOutOfOrderAcknowledgementsMoveTheCheckpointToTheEnd) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    MemoryStore store;
    const auto order = late_commit_order(60);
    for (auto p : order) store.append(p);
    ScriptedSink sink;
    sink.hold(true);
    auto options = fast_options();
    options.stop_when_idle = false;
    options.batch_size = 8;
    Relay relay(store, sink, options);
    std::thread runner([&] { relay.run(); });
    ASSERT_TRUE(eventually([&] { return sink.pending() == 60; }));
    sink.release_shuffled(seed);
    EXPECT_TRUE(eventually([&] { return store.checkpoint() == 60; }))
        << "seed " << seed << ": checkpoint stuck at " << store.checkpoint().value_or(0);
    relay.stop();
    runner.join();
    EXPECT_EQ(sink.published().size(), 60u) << "nothing published twice without a restart";
    EXPECT_EQ(relay.stats().acknowledged, 60);
    EXPECT_FALSE(store.went_backwards());
  }
}

// The reproduction: position 2 commits after 3; acknowledgements arrive later, while
// more commits keep coming, with a small in-flight cap. The old relay reached the cap with
// acknowledgements it had dropped and stopped publishing.
TEST(RelayLateCommits, KeepsPublishingPastTheInFlightCapWhileAcknowledgementsArriveLate) {
  MemoryStore store;
  store.append(1);
  store.append(3);
  store.append(2);
  ScriptedSink sink;
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  options.max_in_flight = 4;
  options.batch_size = 2;
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  std::int64_t next = 4;
  std::size_t released = 0;
  for (int round = 0; round < 20; ++round) {
    store.append(next++);
    store.append(next++);
    ASSERT_TRUE(eventually([&] { return sink.published().size() >= released + 1; })) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    released = sink.published().size();
    sink.release_reversed();
  }
  ASSERT_TRUE(eventually([&] {
    sink.release_reversed();
    return store.checkpoint() == next - 1;
  })) << "checkpoint stuck at "
      << store.checkpoint().value_or(0) << " of " << next - 1;
  relay.stop();
  runner.join();
  EXPECT_EQ(sorted(sink.delivered()), range(1, next - 1));
  EXPECT_EQ(sink.published().size(), static_cast<std::size_t>(next - 1)) << "nothing republished";
}

TEST(RelayLateCommits, RetriesKeepCommitOrderWithNonMonotonePositions) {
  MemoryStore store;
  const auto order = late_commit_order(30);
  for (auto p : order) store.append(p);
  // Position 4 (committed late, after 5 and 6) fails twice before it goes through.
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) {
    return p == 4 && attempt <= 2 ? Outcome::retryable : Outcome::ok;
  });
  sink.fail_behind_failure(true);
  auto options = fast_options();
  options.batch_size = 4;
  Relay relay(store, sink, options);
  relay.run();
  EXPECT_EQ(sink.delivered(), order) << "each delivered once, in commit order, across the retries";
  EXPECT_EQ(store.checkpoint(), 30);
  EXPECT_GE(relay.stats().retries, 2);
}

TEST(RelayLateCommits, LateAsynchronousFailuresAreRetriedAndTheCheckpointReachesTheEnd) {
  MemoryStore store;
  const auto order = late_commit_order(24);
  for (auto p : order) store.append(p);
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) {
    return p % 5 == 1 && attempt == 1 ? Outcome::retryable : Outcome::ok;
  });
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  options.batch_size = 6;
  Relay relay(store, sink, options);
  ASSERT_TRUE(run_with_shuffled_acks(store, sink, relay, 24))
      << "checkpoint stuck at " << store.checkpoint().value_or(0);
  EXPECT_EQ(sorted(sink.delivered()), range(1, 24));
  EXPECT_EQ(relay.stats().dead_lettered, 0);
}

TEST(RelayLateCommits, ALateCommittedPoisonMessageIsDeadLetteredAndTheStreamMovesOn) {
  MemoryStore store;
  const auto order = late_commit_order(12);  // 2, 3, 1, 5, 6, 4, ...
  for (auto p : order) store.append(p);
  ScriptedSink sink([](std::int64_t p, int, std::size_t) { return p == 4 ? Outcome::permanent : Outcome::ok; });
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  options.max_attempts = 2;
  options.batch_size = 1;
  Relay relay(store, sink, options);
  ASSERT_TRUE(run_with_shuffled_acks(store, sink, relay, 12))
      << "checkpoint stuck at " << store.checkpoint().value_or(0);
  const auto dead = store.dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 4);
  auto expected = order;
  expected.erase(std::find(expected.begin(), expected.end(), 4));
  EXPECT_EQ(sink.delivered(), expected);
}

// A permanent store error (a corrupt database) ends the relay, but first the checkpoint of what
// the sink acknowledged is saved and the lease released, so a restart does not republish it and
// a standby does not wait out the lease.
TEST(Relay, APermanentStoreErrorSavesTheAcknowledgedCheckpointAndReleasesTheLease) {
  MemoryStore store;
  for (int i = 1; i <= 50; ++i) store.append(i);
  store.permanent_failure_after_reads = 5;
  ScriptedSink sink;
  auto options = fast_options();
  options.stop_when_idle = false;
  options.batch_size = 10;
  options.checkpoint_interval = std::chrono::hours(1);  // only a final save can record the progress
  Relay relay(store, sink, options);
  EXPECT_THROW(relay.run(), StoreError);
  EXPECT_EQ(sink.delivered(), range(1, 50));
  EXPECT_EQ(store.checkpoint(), 50) << "what was acknowledged before the error is saved";
  EXPECT_EQ(store.owner(), "") << "the lease is released";
}

// Found by the end-to-end matrix: a relay draining on SIGTERM did not renew its lease, so with a
// drain longer than the lease a standby took over mid-drain. The drain now renews it (each renewal
// is a checkpoint save with the lease).
TEST(Relay, ADrainLongerThanTheLeaseKeepsRenewingIt) {
  MemoryStore store;
  for (int i = 1; i <= 5; ++i) store.append(i);
  ScriptedSink sink;
  sink.hold(true);
  auto options = fast_options();
  options.stop_when_idle = false;
  options.lease_ttl = std::chrono::seconds(1);
  options.shutdown_timeout = std::chrono::seconds(5);
  Relay relay(store, sink, options);
  std::thread runner([&] { relay.run(); });
  ASSERT_TRUE(eventually([&] { return sink.pending() == 5; }));
  const std::size_t before = store.saved().size();
  relay.stop();
  // Renewals every lease_ttl/3 (333 ms): at least three while the drain waits.
  EXPECT_TRUE(eventually([&] { return store.saved().size() >= before + 3; })) << "no lease renewal during the drain";
  EXPECT_EQ(store.owner(), "test-relay") << "the lease is held until the drain ends";
  sink.release_reversed();
  runner.join();
  EXPECT_EQ(store.checkpoint(), 5);
  EXPECT_EQ(store.owner(), "") << "released at the end";
}

#include <gtest/gtest.h>

#include <thread>

#include "fakes.hpp"
#include "outbox/relay.hpp"

using namespace outbox;
using fakes::MemoryStore;
using fakes::ScriptedSink;

namespace {

RelayOptions fast_options() {
  RelayOptions o;
  o.outbox = "orders";
  o.owner = "test-relay";
  o.backoff.initial = std::chrono::milliseconds(1);
  o.backoff.max = std::chrono::milliseconds(4);
  o.idle_wait = std::chrono::milliseconds(20);
  o.stop_when_idle = true;
  return o;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v;
  for (auto i = from; i <= to; ++i) v.push_back(i);
  return v;
}

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace

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
  EXPECT_FALSE(store.checkpoint().has_value());
}

TEST(Relay, RetryableFailuresAreRetriedInOrderWithoutLimit) {
  MemoryStore store;
  for (int i = 1; i <= 6; ++i) store.append(i);
  // Message 3 fails 7 times (more than max_attempts): retryable failures never dead-letter.
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) { return p == 3 && attempt <= 7 ? Outcome::retryable : Outcome::ok; });
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
  ScriptedSink sink([](std::int64_t p, int attempt, std::size_t) { return p > 10 && p <= 20 && attempt == 1 ? Outcome::retryable : Outcome::ok; });
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
  ScriptedSink sink([](std::int64_t p, int, std::size_t batch) {
    return p == 3 || batch > 1 ? Outcome::permanent : Outcome::ok;
  });
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
  store.release("orders", "default", "other-relay");
  runner.join();
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

// redis-server crashed (SIGKILL) and restarted from its AOF while writers commit and the relay
// publishes: nothing acknowledged may be missing afterwards, and each key keeps its order.
#include <signal.h>

#include <fstream>
#include <thread>

#include "redis_fixture.hpp"

using namespace testing_redis;
using namespace std::chrono_literals;

class RedisFaults : public RedisTest {};

TEST_F(RedisFaults, ServerKilledAndRestartedMidStreamLosesNothing) {
  const std::string stream = unique_stream("restart");
  auto store = outbox::open_store(uri());
  auto sink = outbox::open_sink(sink_uri(stream));
  outbox::RelayOptions o;
  o.outbox = "orders";
  o.batch_size = 50;  // many round trips, so the crash lands between and inside them
  o.backoff.initial = 50ms;
  o.backoff.max = 500ms;
  o.lease_ttl = 3s;  // renewals (which also record health) every second
  outbox::Relay relay(*store, *sink, o);
  std::thread runner([&] { relay.run(); });

  // 3000 messages over 17 keys, 10 per transaction, committed while the server goes down and up.
  std::atomic<int> committed{0};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      put_committed(i * 10 + 1, i * 10 + 10, 17);
      committed = (i + 1) * 10;
      std::this_thread::sleep_for(3ms);
    }
  });
  while (committed < 600) std::this_thread::sleep_for(5ms);
  run_script("stop.sh --kill");
  // While the server is down, `outbox status` shows the consumer as unhealthy.
  std::string health;
  {
    auto observer = outbox::open_store(uri());
    for (int i = 0; i < 50; ++i) {
      health = observer->status("orders").consumers.at(0).health;
      if (health.find("redis") != std::string::npos) break;
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_NE(health.find("redis"), std::string::npos) << "status did not show the outage: " << health;
  std::printf("health during the outage: %s\n", health.c_str());
  const auto acknowledged_before_restart = relay.stats().acknowledged;
  run_script("start.sh");
  writer.join();

  for (int i = 0; i < 600 && relay.stats().last_position < 3000; ++i) std::this_thread::sleep_for(100ms);
  relay.stop();
  runner.join();
  EXPECT_EQ(relay.stats().last_position, 3000) << "the relay did not catch up after the server came back";
  EXPECT_EQ(relay.stats().dead_lettered, 0);

  Client after;  // the fixture's connection died with the server
  const auto c = check(after.read(stream), 3000);
  std::printf(
      "redis killed: 3000 committed, %lld acknowledged before the restart, %zu in the stream distinct, "
      "%zu duplicates, %lld retries, %zu reorders\n",
      static_cast<long long>(acknowledged_before_restart), c.distinct, c.duplicates,
      static_cast<long long>(relay.stats().retries), c.reorders);
  EXPECT_EQ(c.distinct, 3000u) << "lost messages, first missing position " << c.first_missing;
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  EXPECT_GT(relay.stats().retries, 0) << "the outage should have failed publishes";
}

TEST_F(RedisFaults, AServerThatClosedTheConnectionFailsTheBatchAndDoesNotKillTheProcess) {
  // This test process does not ignore SIGPIPE, like a service that runs the relay in-process.
  const std::string stream = unique_stream("sigpipe");
  auto sink = outbox::open_sink(sink_uri(stream));
  auto batch_of = [](int n, std::size_t bytes) {
    std::vector<outbox::Message> batch;
    for (int i = 1; i <= n; ++i) {
      auto m = testing_sqlite::order_created(i, "k" + std::to_string(i % 3));
      m.outbox = "orders";
      m.position = i;
      m.data["pad"] = std::string(bytes, 'x');
      batch.push_back(std::move(m));
    }
    return batch;
  };
  sink->publish(batch_of(1, 10));
  ASSERT_EQ(sink->poll(0ms).at(0).outcome, outbox::Outcome::ok);
  // The server dies and comes back: the sink's connection is dead. A batch of several MB takes many
  // write() calls; those after the peer's reset raise SIGPIPE.
  run_script("stop.sh --kill");
  run_script("start.sh");
  sink->publish(batch_of(2000, 4000));
  const auto failed = sink->poll(0ms);
  ASSERT_EQ(failed.size(), 2000u);
  for (const auto& d : failed) ASSERT_EQ(d.outcome, outbox::Outcome::retryable) << d.error;
  std::printf("the dead connection's batch failed with: %s\n", failed[0].error.c_str());
  // And the next publish reconnects.
  sink->publish(batch_of(2000, 4000));
  const auto retried = sink->poll(0ms);
  ASSERT_EQ(retried.size(), 2000u);
  for (const auto& d : retried) ASSERT_EQ(d.outcome, outbox::Outcome::ok) << d.error;
  Client after;
  EXPECT_EQ(after.xlen(stream), 2001);
}

TEST_F(RedisFaults, AStalledServerTimesOutRetryableInsteadOfHoldingTheRelay) {
  outbox::redis::SinkOptions options = outbox::redis::parse_uri(sink_uri(unique_stream("stalled")));
  options.command_timeout_ms = 300;
  auto sink = outbox::redis::make_sink(options);
  std::vector<outbox::Message> batch(1);
  batch[0] = testing_sqlite::order_created(1, "k");
  batch[0].outbox = "orders";
  batch[0].position = 1;
  sink->publish(batch);
  ASSERT_EQ(sink->poll(0ms).at(0).outcome, outbox::Outcome::ok);

  // SIGSTOP: the connection stays open, nothing answers.
  std::ifstream pid_file(state_dir() + "/redis.pid");
  pid_t pid = 0;
  pid_file >> pid;
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  batch[0].position = 2;
  sink->publish(batch);
  kill(pid, SIGCONT);
  const auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::retryable);
  EXPECT_NE(d[0].error.find("no answer within 300 ms"), std::string::npos) << d[0].error;
  EXPECT_NE(sink->health().find("no answer"), std::string::npos) << sink->health();

  batch[0].position = 3;
  sink->publish(batch);
  EXPECT_EQ(sink->poll(0ms).at(0).outcome, outbox::Outcome::ok) << "reconnected";
  EXPECT_EQ(sink->health(), "ok");
}

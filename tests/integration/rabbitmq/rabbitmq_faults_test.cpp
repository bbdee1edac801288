// rabbitmq-server crashed (SIGKILL) and restarted on the same node database while writers commit
// and the relay publishes into a durable queue: nothing confirmed may be missing afterwards, and
// each key keeps its order.
#include <signal.h>

#include <thread>

#include "rabbitmq_fixture.hpp"

using namespace testing_rabbitmq;
using namespace std::chrono_literals;

class RabbitmqFaults : public RabbitmqTest {};

TEST_F(RabbitmqFaults, BrokerKilledAndRestartedMidStreamLosesNothing) {
  const std::string queue = bound_queue();
  auto store = outbox::open_store(uri());
  auto sink = outbox::open_sink(sink_uri());
  outbox::RelayOptions o;
  o.outbox = "orders";
  o.batch_size = 50;  // many batches, so the crash lands between and inside them
  o.backoff.initial = 50ms;
  o.backoff.max = 500ms;
  o.lease_ttl = 3s;  // renewals (which also record health) every second
  outbox::Relay relay(*store, *sink, o);
  std::thread runner([&] { relay.run(); });

  // 3000 messages over 17 keys, 10 per transaction, committed while the broker goes down and up.
  std::atomic<int> committed{0};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      put_committed(i * 10 + 1, i * 10 + 10, 17);
      committed = (i + 1) * 10;
      std::this_thread::sleep_for(3ms);
    }
  });
  while (committed < 600) std::this_thread::sleep_for(5ms);
  client.reset();  // its connection dies with the broker
  run_script("stop.sh --kill");
  std::string health;
  {
    auto observer = outbox::open_store(uri());
    for (int i = 0; i < 50; ++i) {
      health = observer->status("orders").consumers.at(0).health;
      if (health.find("rabbitmq") != std::string::npos) break;
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_NE(health.find("rabbitmq"), std::string::npos) << "status did not show the outage: " << health;
  std::printf("health during the outage: %s\n", health.c_str());
  const auto acknowledged_before_restart = relay.stats().acknowledged;
  run_script("start.sh");
  // As a consumer does when it reconnects (topology recovery): RabbitMQ can come back routing to a
  // durable queue only once that queue has restarted, and a return meanwhile must be retried (the
  // sink's return_grace_ms), not dead-lettered.
  for (int attempt = 1;; ++attempt) {
    try {
      Client().declare_queue(queue, exchange, {"order_created"});
      break;
    } catch (const std::exception& e) {  // the queue may still be restarting
      std::printf("re-declaring the queue after the restart, attempt %d: %s\n", attempt, e.what());
      if (attempt == 60) break;
      std::this_thread::sleep_for(500ms);
    }
  }
  writer.join();

  for (int i = 0; i < 600 && relay.stats().last_position < 3000; ++i) std::this_thread::sleep_for(100ms);
  relay.stop();
  runner.join();
  EXPECT_EQ(relay.stats().last_position, 3000) << "the relay did not catch up after the broker came back";
  EXPECT_EQ(relay.stats().dead_lettered, 0);

  Client after;
  const auto c = check(after.drain(queue, 3000), 3000);
  std::printf(
      "rabbitmq killed: 3000 committed, %lld acknowledged before the restart, %zu in the queue distinct, "
      "%zu duplicates, %lld retries, %zu reorders\n",
      static_cast<long long>(acknowledged_before_restart), c.distinct, c.duplicates,
      static_cast<long long>(relay.stats().retries), c.reorders);
  EXPECT_EQ(c.distinct, 3000u) << "lost messages, first missing position " << c.first_missing;
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  EXPECT_GT(relay.stats().retries, 0) << "the outage should have failed publishes";
  if (HasFailure()) print_broker_recovery_log();
}

TEST_F(RabbitmqFaults, AStalledBrokerTimesOutRetryableInsteadOfHoldingTheRelay) {
  const std::string queue = bound_queue();
  auto options = outbox::rabbitmq::parse_uri(sink_uri("&confirm_timeout_ms=300"));
  auto sink = outbox::rabbitmq::make_sink(options);
  std::vector<outbox::Message> batch(1, testing_sqlite::order_created(1, "k"));
  batch[0].outbox = "orders";
  batch[0].position = 1;
  sink->publish(batch);
  ASSERT_EQ(sink->poll(0ms).at(0).outcome, outbox::Outcome::ok);

  // SIGSTOP: the connection stays open, nothing answers.
  std::ifstream pid_file(state_dir() + "/rabbitmq.pid");
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
  EXPECT_NE(d[0].error.find("no confirm within 300 ms"), std::string::npos) << d[0].error;
  EXPECT_NE(sink->health().find("no confirm"), std::string::npos) << sink->health();

  batch[0].position = 3;
  for (int i = 0; i < 20; ++i) {  // the node may take a moment to serve again after SIGCONT
    sink->publish(batch);
    if (sink->poll(0ms).at(0).outcome == outbox::Outcome::ok) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(sink->health(), "ok") << "reconnected";
}

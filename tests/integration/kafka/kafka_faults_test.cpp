// Faults with a real broker: the broker restarting mid-stream, and the relay killed mid-stream.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "kafka_fixture.hpp"

using namespace testing_kafka;
using namespace std::chrono_literals;

namespace {

// Positions delivered, and how many of them more than once.
struct Tally {
  std::size_t distinct = 0, duplicates = 0;
  std::int64_t lowest_missing = 0;
};

Tally tally(const std::vector<Record>& records, std::int64_t expected) {
  std::map<std::int64_t, int> seen;
  for (const auto& r : records) ++seen[std::stoll(r.headers.at("position"))];
  Tally t;
  t.distinct = seen.size();
  for (const auto& [p, n] : seen) t.duplicates += static_cast<std::size_t>(n - 1);
  for (std::int64_t p = 1; p <= expected; ++p) {
    if (!seen.count(p)) {
      t.lowest_missing = p;
      break;
    }
  }
  return t;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

class KafkaFaults : public KafkaTest {};

TEST_F(KafkaFaults, BrokerRestartMidStreamLosesNothing) {
  const std::string topic = unique_topic("restart");
  create_topic(topic, 3, {});
  auto store = outbox::open_store(uri());
  auto sink = outbox::open_sink("kafka://" + bootstrap() + "/" + topic, {{"message.timeout.ms", "3000"}});
  outbox::RelayOptions o;
  o.outbox = "orders";
  o.backoff.initial = 100ms;
  o.backoff.max = 2s;
  o.lease_ttl = 3s;  // renewals (which also record health) every second
  outbox::Relay relay(*store, *sink, o);
  std::thread runner([&] { relay.run(); });

  put_committed(1, 500);
  const std::string state = std::getenv("OUTBOX_KAFKA_STATE");
  ASSERT_EQ(run(std::string(OUTBOX_KAFKA_SCRIPTS) + "/stop.sh --state " + state + " --keep-data >/dev/null"), 0);
  put_committed(501, 1000);  // committed while the broker is down
  // While the broker is down, `outbox status` shows the consumer as unhealthy.
  std::string health;
  {
    auto observer = outbox::open_store(uri());
    for (int i = 0; i < 50; ++i) {
      health = observer->status("orders").consumers.at(0).health;
      if (health.find("kafka") != std::string::npos) break;
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_NE(health.find("kafka"), std::string::npos) << "status did not show the broker outage: " << health;
  std::printf("health during the outage: %s\n", health.c_str());
  // Down longer than message.timeout.ms: deliveries time out and the relay must retry them.
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(run(std::string(OUTBOX_KAFKA_SCRIPTS) + "/start.sh --state " + state + " >/dev/null"), 0);
  put_committed(1001, 1500);

  for (int i = 0; i < 1200 && relay.stats().last_position < 1500; ++i) std::this_thread::sleep_for(100ms);
  relay.stop();
  runner.join();
  EXPECT_EQ(relay.stats().last_position, 1500) << "the relay did not catch up after the broker came back";
  EXPECT_EQ(relay.stats().dead_lettered, 0);

  const auto t = tally(consume({topic}, 1500, 120s), 1500);
  std::printf("broker restart: 1500 committed, %zu delivered distinct, %zu duplicates, %lld retries\n", t.distinct,
              t.duplicates, static_cast<long long>(relay.stats().retries));
  EXPECT_EQ(t.distinct, 1500u) << "lost messages, first missing position " << t.lowest_missing;
  EXPECT_GT(relay.stats().retries, 0) << "the outage should have made deliveries time out";
}

TEST_F(KafkaFaults, RelayKilledMidStreamLosesNothing) {
  const std::string topic = unique_topic("kill");
  create_topic(topic, 3, {});
  const std::string sink = "kafka://" + bootstrap() + "/" + topic;
  auto start_relay = [&](bool drain) {
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<const char*> args{OUTBOX_CLI, "relay",      "--store",     nullptr, "--outbox",     "orders",
                                    "--sink",   sink.c_str(), "--lease-ttl", "1",     "--batch-size", "200"};
      const std::string store_uri = uri();
      args[3] = store_uri.c_str();
      if (drain) args.push_back("--drain");
      args.push_back(nullptr);
      freopen("/dev/null", "w", stderr);
      execv(OUTBOX_CLI, const_cast<char* const*>(args.data()));
      _exit(127);
    }
    return pid;
  };

  // Commits go on while relays come and go: 4000 messages, 10 per transaction.
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      put_committed(i * 10 + 1, i * 10 + 10);
      std::this_thread::sleep_for(5ms);
    }
    writing = false;
  });
  std::mt19937 rng(std::random_device{}());
  int kills = 0;
  auto store = outbox::open_store(uri());
  while (writing || kills < 8) {
    const pid_t pid = start_relay(false);
    // Kill it while it works: once it holds the consumer's lease, within its first 300 ms.
    const std::string owner_suffix = ":" + std::to_string(pid);
    for (int i = 0; i < 100; ++i) {
      const auto st = store->status("orders");
      const auto& owner = st.consumers.empty() ? std::string() : st.consumers[0].owner;
      if (owner.size() > owner_suffix.size() &&
          owner.compare(owner.size() - owner_suffix.size(), owner_suffix.size(), owner_suffix) == 0) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ++kills;
  }
  writer.join();
  const pid_t last = start_relay(true);
  int status = 0;
  waitpid(last, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  const auto t = tally(consume({topic}, 4000, 120s), 4000);
  std::printf("relay SIGKILLed %d times: 4000 committed, %zu delivered distinct, %zu duplicates\n", kills, t.distinct,
              t.duplicates);
  EXPECT_EQ(t.distinct, 4000u) << "lost messages, first missing position " << t.lowest_missing;
}

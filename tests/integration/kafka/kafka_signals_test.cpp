// SIGTERM to the real `outbox relay --sink kafka://...` (issue 10, items 2 and 11). librdkafka
// starts its threads when the sink is opened; before SIGINT/SIGTERM were blocked at the top of
// main() the kernel could deliver SIGTERM to one of them, and the relay died with 143: no drain, no
// checkpoint, the lease left to expire (10 of 10 tries). The same checks as for the other sinks.
#include "kafka_fixture.hpp"
#include "relay_signal_checks.hpp"

using namespace testing_cli;

class KafkaSignals : public testing_kafka::KafkaTest {
 protected:
  RelaySetup setup() {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = "kafka://" + testing_kafka::bootstrap() + "/" + testing_kafka::unique_topic("signals");
    s.dir = dir;
    return s;
  }
};

TEST_F(KafkaSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  put_committed(1, 200);
  const auto s = setup();
  check_sigterm_stops_in_order(s, 200);
  const auto topic = s.sink.substr(s.sink.rfind('/') + 1);
  EXPECT_EQ(testing_kafka::consume({topic}, 200, std::chrono::seconds(30), std::chrono::milliseconds(500)).size(), 200u)
      << "every message once: the checkpoint was saved, so the standby sent none again";
}

TEST_F(KafkaSignals, SigtermInTheFirstMillisecondStopsTheRelayInOrder) {
  put_committed(1, 20);
  check_sigterm_at_start(setup(), 5);
}

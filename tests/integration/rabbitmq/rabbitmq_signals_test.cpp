// SIGTERM to the real `outbox relay --sink amqp://...`: drains, saves the checkpoint, releases the
// lease and exits 0; the same checks as for the other sinks.
#include "rabbitmq_fixture.hpp"
#include "relay_signal_checks.hpp"

using namespace testing_cli;

class RabbitmqSignals : public testing_rabbitmq::RabbitmqTest {
 protected:
  RelaySetup setup() {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = sink_uri();
    s.dir = dir;
    return s;
  }
};

TEST_F(RabbitmqSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  const std::string queue = bound_queue();
  put_committed(1, 200);
  check_sigterm_stops_in_order(setup(), 200);
  EXPECT_EQ(client->count(queue), 200u)
      << "every message once: the checkpoint was saved, so the standby sent none again";
}

TEST_F(RabbitmqSignals, SigtermInTheFirstMillisecondStopsTheRelayInOrder) {
  bound_queue();
  put_committed(1, 20);
  check_sigterm_at_start(setup(), 5);
}

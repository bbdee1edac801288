// SIGTERM to the real `outbox relay --sink amqp://...`: drains, saves the checkpoint, releases the
// lease and exits 0; the same checks as for the other sinks.
#include "rabbitmq_fixture.hpp"
#include "relay_health_checks.hpp"
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

// The broker dies under a running relay: `outbox status` and /metrics say so, and both recover
// when it is back (same ports, same node: the durable queue keeps what was confirmed).
TEST_F(RabbitmqSignals, AnOutageShowsInStatusAndMetrics) {
  const std::string queue = bound_queue();
  put_committed(1, 50);
  OutageCheck o;
  o.take_down = [&] {
    client.reset();  // its connection dies with the broker
    testing_rabbitmq::run_script("stop.sh --kill");
  };
  o.bring_back = [&] { testing_rabbitmq::run_script("start.sh"); };
  o.write_more = [&] { put_committed(51, 100); };
  o.before = 50;
  o.total = 100;
  o.sink_word = "rabbitmq";
  check_outage_shows_in_status_and_metrics(setup(), o);
  testing_rabbitmq::Client after;
  const auto c = check(after.drain(queue, 100), 100);
  EXPECT_EQ(c.distinct, 100u) << "lost messages, first missing position " << c.first_missing;
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
}

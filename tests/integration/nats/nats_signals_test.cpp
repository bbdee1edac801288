// SIGTERM to the real `outbox relay --sink nats://...`: drains, exits 0, checkpoint saved, lease
// released (the same checks as for the other sinks; libnats starts threads of its own too).
#include "nats_fixture.hpp"
#include "relay_health_checks.hpp"
#include "relay_signal_checks.hpp"

using namespace testing_cli;

class NatsSignals : public testing_nats::NatsTest {
 protected:
  RelaySetup setup(const std::string& subject) {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = server.url() + "/" + subject + "?create_stream=SIGNALS";
    s.dir = dir;
    return s;
  }
};

TEST_F(NatsSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  put_committed(1, 200);
  check_sigterm_stops_in_order(setup("signals"), 200);
  testing_nats::Client client(server.url());
  EXPECT_EQ(client.read("SIGNALS", "signals", 200).size(), 200u)
      << "every message once: the checkpoint was saved, so the standby sent none again";
}

TEST_F(NatsSignals, SigtermInTheFirstMillisecondStopsTheRelayInOrder) {
  put_committed(1, 20);
  check_sigterm_at_start(setup("early"), 3);
}

// The server dies under a running relay: `outbox status` and /metrics say so, and both recover
// when it is back (same port, same JetStream store).
TEST_F(NatsSignals, AnOutageShowsInStatusAndMetrics) {
  put_committed(1, 50);
  OutageCheck o;
  o.take_down = [&] { server.kill(); };
  o.bring_back = [&] { server.start(); };
  o.write_more = [&] { put_committed(51, 100); };
  o.before = 50;
  o.total = 100;
  o.sink_word = "nats";
  check_outage_shows_in_status_and_metrics(setup("outage"), o);
}

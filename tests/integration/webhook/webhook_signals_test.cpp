// SIGTERM to the real `outbox relay --sink http://...`: with a receiver that answers, the same
// in-order stop as for the other sinks; with one that stalls every request, the stop still ends
// within the shutdown timeout, exit 0, the checkpoint saved and the lease released.
#include "relay_health_checks.hpp"
#include "relay_signal_checks.hpp"
#include "webhook_fixture.hpp"

using namespace testing_cli;
using namespace testing_webhook;
using namespace std::chrono_literals;

class WebhookSignals : public WebhookTest {
 protected:
  RelaySetup setup(const std::string& sink) {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = sink;
    s.dir = dir;
    return s;
  }
};

TEST_F(WebhookSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  put_committed(1, 200);
  check_sigterm_stops_in_order(setup(receiver.url("/signals")), 200);
  const auto c = check(messages_of(receiver.accepted()), 200);
  EXPECT_EQ(c.distinct, 200u);
  EXPECT_EQ(c.duplicates, 0u) << "the checkpoint was saved, so the standby sent none again";
}

TEST_F(WebhookSignals, SigtermWhileTheReceiverStallsExitsWithinTheShutdownTimeout) {
  put_committed(1, 20);
  const auto s = setup(receiver.url("/stall?timeout_ms=60000"));
  // Three answered, then every request hangs: the relay is inside a POST when the signal comes.
  std::atomic<int> n{0};
  receiver.set_rule([&](const Request&) {
    Answer a;
    a.stall = ++n > 3;
    return a;
  });
  auto argv = relay_argv(s, {"--shutdown-timeout", "1"});
  Process relay(argv, s.dir + "/relay.log");
  ASSERT_TRUE(receiver.wait_for_requests(4, 30s)) << relay.log();
  std::this_thread::sleep_for(100ms);
  relay.signal(SIGTERM);
  // The request's own timeout is a minute: only the stop cuts it.
  const auto status = relay.wait(30s);
  receiver.release();
  ASSERT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << relay.log();
  const auto c = consumer_status(s.store, s.outbox);
  EXPECT_EQ(c["position"].get<std::int64_t>(), 3) << "the checkpoint of what was acknowledged is saved: " << c.dump();
  EXPECT_EQ(c["lease_active"], false) << "released on the way out: " << c.dump();
}

// The receiver goes away under a running relay: `outbox status` and /metrics say so, without the
// password of the URI's basic-auth credentials, and both recover when it is back.
TEST_F(WebhookSignals, AnOutageShowsInStatusAndMetricsWithoutThePassword) {
  put_committed(1, 50);
  std::string url = receiver.url("/outage");
  url.replace(url.find("://") + 3, 0, "relay:pw-s3cret-71@");
  OutageCheck o;
  o.take_down = [&] { receiver.stop(); };
  o.bring_back = [&] { receiver.restart(); };
  o.write_more = [&] { put_committed(51, 100); };
  o.before = 50;
  o.total = 100;
  o.sink_word = "webhook";
  o.secret = "pw-s3cret-71";
  check_outage_shows_in_status_and_metrics(setup(url), o);
}

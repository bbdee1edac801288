// SIGTERM to the real `outbox relay --sink redis://...`: drains, saves the checkpoint, releases
// the lease and exits 0; the same checks as for the other sinks.
#include "redis_fixture.hpp"
#include "relay_health_checks.hpp"
#include "relay_signal_checks.hpp"

using namespace testing_cli;

class RedisSignals : public testing_redis::RedisTest {
 protected:
  RelaySetup setup(const std::string& stream) {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = sink_uri(stream);
    s.dir = dir;
    return s;
  }
};

TEST_F(RedisSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  put_committed(1, 200);
  const std::string stream = testing_redis::unique_stream("signals");
  check_sigterm_stops_in_order(setup(stream), 200);
  EXPECT_EQ(redis.xlen(stream), 200) << "every message once: the checkpoint was saved, so the standby sent none again";
}

TEST_F(RedisSignals, SigtermInTheFirstMillisecondStopsTheRelayInOrder) {
  put_committed(1, 20);
  check_sigterm_at_start(setup(testing_redis::unique_stream("early")), 5);
}

// The server dies under a running relay: `outbox status` and /metrics say so, and both recover
// when it is back (same port, same append-only file).
TEST_F(RedisSignals, AnOutageShowsInStatusAndMetrics) {
  put_committed(1, 50);
  const std::string stream = testing_redis::unique_stream("outage");
  OutageCheck o;
  o.take_down = [&] { testing_redis::run_script("stop.sh --kill"); };
  o.bring_back = [&] { testing_redis::run_script("start.sh"); };
  o.write_more = [&] { put_committed(51, 100); };
  o.before = 50;
  o.total = 100;
  o.sink_word = "redis";
  check_outage_shows_in_status_and_metrics(setup(stream), o);
  testing_redis::Client after;  // the fixture's connection died with the server
  const auto c = check(after.read(stream), 100);
  EXPECT_EQ(c.distinct, 100u) << "lost messages, first missing position " << c.first_missing;
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
}

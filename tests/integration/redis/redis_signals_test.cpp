// SIGTERM to the real `outbox relay --sink redis://...`: drains, saves the checkpoint, releases
// the lease and exits 0; the same checks as for the other sinks.
#include "redis_fixture.hpp"
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

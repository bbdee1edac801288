#include <gtest/gtest.h>

#include "outbox/metrics.hpp"

using namespace outbox;

TEST(Metrics, PrometheusTextCarriesLagAndRelayCounters) {
  OutboxStatus s;
  s.name = "orders";
  s.count = 12;
  s.dead_letters = 1;
  ConsumerStatus c;
  c.name = "kafka";
  c.lag_messages = 3;
  c.lag_seconds = 1.5;
  c.health = "sink: kafka: _ALL_BROKERS_DOWN";
  s.consumers.push_back(c);
  RelayStats r;
  r.acknowledged = 9;
  r.last_position = 9;
  const std::string text = prometheus_metrics({s}, r, "orders", "kafka");
  EXPECT_NE(text.find("# TYPE outbox_consumer_lag_seconds gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("outbox_consumer_lag_messages{outbox=\"orders\",consumer=\"kafka\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("outbox_consumer_lag_seconds{outbox=\"orders\",consumer=\"kafka\"} 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("outbox_consumer_healthy{outbox=\"orders\",consumer=\"kafka\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("outbox_messages{outbox=\"orders\"} 12\n"), std::string::npos);
  EXPECT_NE(text.find("outbox_relay_acknowledged_total{outbox=\"orders\",consumer=\"kafka\"} 9\n"), std::string::npos);
  EXPECT_EQ(prometheus_metrics({s}, std::nullopt, "", "").find("outbox_relay_"), std::string::npos);
}

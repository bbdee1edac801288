#include <gtest/gtest.h>

#include <set>
#include <sstream>

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

// Several relays in one process: each family once (one HELP, one TYPE), a series per relay told
// apart by its labels, and no series twice: text Prometheus accepts.
TEST(Metrics, SeveralRelaysShareEachFamilyOnce) {
  OutboxStatus orders;
  orders.name = "orders";
  OutboxStatus payments;
  payments.name = "payments";
  RelayStats a;
  a.acknowledged = 3;
  RelayStats b;
  b.acknowledged = 4;
  const std::string text =
      prometheus_metrics(std::vector<OutboxReading>{{orders, 0.5}, {payments, 1.5}},
                         std::vector<RelayCounters>{{"orders", "default", a}, {"payments", "billing", b}});
  EXPECT_NE(text.find("outbox_relay_acknowledged_total{outbox=\"orders\",consumer=\"default\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("outbox_relay_acknowledged_total{outbox=\"payments\",consumer=\"billing\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("outbox_status_age_seconds{outbox=\"payments\"} 1.5\n"), std::string::npos) << text;
  std::set<std::string> comments, series;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("#")) {
      EXPECT_TRUE(comments.insert(line).second) << "written twice: " << line;
    } else {
      EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << "series twice: " << line;
    }
  }
}

// Kafka sink URI parsing, topic templates and refused properties: no broker needed.
#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/kafka.hpp"

using namespace outbox;

TEST(KafkaUri, BrokersTopicAndCloudEvents) {
  auto o =
      kafka::parse_uri("kafka://127.0.0.1:9092,127.0.0.1:9093/{outbox}.{type}?cloudevents=true&source=/svc/orders");
  EXPECT_EQ(o.brokers, "127.0.0.1:9092,127.0.0.1:9093");
  EXPECT_EQ(o.topic, "{outbox}.{type}");
  EXPECT_TRUE(o.cloudevents);
  EXPECT_EQ(o.cloudevents_source, "/svc/orders");
  EXPECT_FALSE(kafka::parse_uri("kafka://h:1/t").cloudevents);
  EXPECT_THROW(kafka::parse_uri("kafka://h:1"), UsageError);
  EXPECT_THROW(kafka::parse_uri("kafka:///t"), UsageError);
  EXPECT_THROW(kafka::parse_uri("kafka://h:1/t?linger.ms=5"), UsageError) << "client properties go through -X";
}

TEST(KafkaTopic, AnIllegalRenderedTopicIsAPermanentFailureAndABadTemplateIsRefused) {
  // Templates themselves are tested with DestinationTemplate; Kafka adds its topic-name rules.
  auto sink = open_sink("kafka://127.0.0.1:1/{outbox}.{type}");
  Message m;
  m.outbox = "orders";
  m.type = "order created!";
  m.position = 7;
  sink->publish(std::span<const Message>(&m, 1));
  const auto outcomes = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].outcome, Outcome::permanent) << "spaces are not legal in topic names";
  EXPECT_NE(outcomes[0].error.find("illegal topic name"), std::string::npos) << outcomes[0].error;
  EXPECT_THROW(open_sink("kafka://127.0.0.1:1/{outbox}.{key}"), UsageError);
  EXPECT_THROW(open_sink("kafka://127.0.0.1:1/{outbox"), UsageError);
}

TEST(KafkaTopic, AnIllegalFixedTopicIsRefusedWhenTheSinkOpens) {
  // Checked once, not per message (where every message would have been dead-lettered).
  for (const char* topic : {"orders!", "..", "orders$v1"}) {
    try {
      open_sink(std::string("kafka://127.0.0.1:1/") + topic);
      ADD_FAILURE() << "topic '" << topic << "' was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("not a legal Kafka topic name"), std::string::npos) << e.what();
    }
  }
  EXPECT_NE(open_sink("kafka://127.0.0.1:1/orders.v1_A-b"), nullptr);
}

TEST(KafkaSink, RefusesPropertiesThatWeakenDelivery) {
  for (const auto& [k, v] : std::map<std::string, std::string>{{"enable.idempotence", "false"},
                                                               {"acks", "1"},
                                                               {"max.in.flight.requests.per.connection", "10"},
                                                               {"bootstrap.servers", "elsewhere:9092"}}) {
    EXPECT_THROW(open_sink("kafka://127.0.0.1:1/t", {{k, v}}), UsageError) << k << "=" << v;
  }
  EXPECT_THROW(open_sink("kafka://127.0.0.1:1/t", {{"no.such.property", "1"}}), UsageError);
  EXPECT_THROW(open_sink("file:/tmp/x", {{"linger.ms", "1"}}), UsageError);
  // A valid configuration creates a producer without contacting the broker.
  EXPECT_NE(open_sink("kafka://127.0.0.1:1/t", {{"linger.ms", "5"}, {"compression.type", "lz4"}}), nullptr);
}

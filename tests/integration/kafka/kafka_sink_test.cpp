// The Kafka sink against a real broker: keys, partition order, values, headers, topic templates,
// CloudEvents mode and dead letters for what the broker refuses.
#include "kafka_fixture.hpp"

using namespace testing_kafka;

class KafkaSink : public KafkaTest {};

TEST_F(KafkaSink, DeliversKeysInOrderWithValuesAndHeaders) {
  const std::string topic = unique_topic("e2e");
  create_topic(topic, 3, {});
  put_committed(1, 300);
  const auto stats = relay_all("kafka://" + bootstrap() + "/" + topic);
  EXPECT_EQ(stats.acknowledged, 300);

  const auto records = consume({topic}, 300);
  ASSERT_EQ(records.size(), 300u);
  std::map<std::string, int> partition_of_key;
  std::map<std::pair<int, std::int64_t>, std::int64_t> last_position_in_partition;
  std::set<std::string> ids;
  for (const auto& r : records) {
    ASSERT_TRUE(r.key.has_value());
    const auto data = nlohmann::json::parse(r.value);
    const std::int64_t position = std::stoll(r.headers.at("position"));
    EXPECT_EQ(*r.key, "order-" + std::to_string(data["ordernr"].get<int>() % 5));
    EXPECT_EQ(data["ordernr"], position) << "value is the message's data";
    EXPECT_EQ(r.headers.at("type"), "order_created");
    EXPECT_EQ(r.headers.at("outbox"), "orders");
    EXPECT_EQ(r.headers.at("traceparent"), "00-" + std::to_string(position) + "-01");
    EXPECT_NO_THROW(outbox::parse_timestamp(r.headers.at("created")));
    EXPECT_EQ(r.headers.at("id").size(), 36u);
    ids.insert(r.headers.at("id"));
    // One key, one partition; within a partition, offsets follow positions.
    auto [it, fresh] = partition_of_key.emplace(*r.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << "key " << *r.key << " moved partitions";
    (void)fresh;
  }
  EXPECT_EQ(ids.size(), 300u);
  std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>> by_partition;  // offset -> position
  for (const auto& r : records) by_partition[r.partition].emplace_back(r.offset, std::stoll(r.headers.at("position")));
  for (auto& [p, v] : by_partition) {
    std::sort(v.begin(), v.end());
    for (std::size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1].second, v[i].second) << "partition " << p;
  }
  EXPECT_GT(by_partition.size(), 1u) << "5 keys over 3 partitions should use more than one";
}

TEST_F(KafkaSink, TopicTemplateRoutesByType) {
  const std::string prefix = unique_topic("tmpl");
  put_committed(1, 10, 2, "order_created");
  put_committed(11, 14, 2, "order_completed");
  // The outbox is "orders"; the template adds a per-test prefix so reruns do not mix.
  relay_all("kafka://" + bootstrap() + "/" + prefix + ".{outbox}.{type}");
  EXPECT_EQ(consume({prefix + ".orders.order_created"}, 10).size(), 10u);
  EXPECT_EQ(consume({prefix + ".orders.order_completed"}, 4).size(), 4u);
}

TEST_F(KafkaSink, CloudEventsBinaryMode) {
  const std::string topic = unique_topic("ce");
  put_committed(1, 3);
  relay_all("kafka://" + bootstrap() + "/" + topic + "?cloudevents=true&source=/services/orders");
  const auto records = consume({topic}, 3);
  ASSERT_EQ(records.size(), 3u);
  const auto& h = records[0].headers;
  EXPECT_EQ(h.at("ce_specversion"), "1.0");
  EXPECT_EQ(h.at("ce_type"), "order_created");
  EXPECT_EQ(h.at("ce_source"), "/services/orders");
  EXPECT_EQ(h.at("ce_id").size(), 36u);
  EXPECT_NO_THROW(outbox::parse_timestamp(h.at("ce_time")));
  EXPECT_EQ(h.at("content-type"), "application/json");
  EXPECT_EQ(h.count("id"), 0u) << "binary mode uses ce_ names only";
  EXPECT_EQ(nlohmann::json::parse(records[0].value)["ordernr"].is_number(), true);
}

TEST_F(KafkaSink, MessageOverTheBrokersLimitIsDeadLetteredAndTheStreamGoesOn) {
  const std::string topic = unique_topic("small");
  create_topic(topic, 1, {{"max.message.bytes", "2000"}});
  put_committed(1, 2);
  testing_sqlite::exec(db, "BEGIN");
  auto big = testing_sqlite::order_created(3);
  big.data["blob"] = std::string(5000, 'x');
  orders.put(db, big);
  testing_sqlite::exec(db, "COMMIT");
  put_committed(4, 5);
  const auto stats = relay_all("kafka://" + bootstrap() + "/" + topic, {}, 2);
  EXPECT_EQ(stats.dead_lettered, 1);
  EXPECT_EQ(stats.acknowledged, 4);
  auto store = outbox::open_store(uri());
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 3);
  EXPECT_NE(dead[0].error.find("too large"), std::string::npos) << dead[0].error;
  EXPECT_EQ(store->status("orders").consumers.at(0).lag_messages, 0);
  EXPECT_EQ(consume({topic}, 4).size(), 4u);
}

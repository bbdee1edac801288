// PostgreSQL store -> relay -> Kafka, end to end, with both real servers (the kafka and postgres
// ctest fixtures).
#include "kafka_fixture.hpp"
#include "pg_fixture.hpp"

using namespace testing_kafka;

class PostgresToKafka : public testing_pg::PgTest {};

TEST_F(PostgresToKafka, DeliversEveryCommittedMessageInKeyOrder) {
  const std::string topic = unique_topic("pg");
  create_topic(topic, 3, {});
  // Two connections interleave so that positions are taken and committed in different orders.
  testing_pg::Conn b(uri);
  std::int64_t nr = 0, committed = 0;
  for (int round = 0; round < 40; ++round) {
    testing_pg::exec(*a, "BEGIN");
    testing_pg::exec(b, "BEGIN");
    for (int i = 0; i < 3; ++i) orders->put(*a, testing_pg::order_created(++nr, "order-" + std::to_string(nr % 5)));
    for (int i = 0; i < 2; ++i) orders->put(b, testing_pg::order_created(++nr, "order-" + std::to_string(nr % 5 + 5)));
    testing_pg::exec(b, "COMMIT");  // b took the later positions and commits first
    testing_pg::exec(*a, round % 4 == 3 ? "ROLLBACK" : "COMMIT");
    committed += 2 + (round % 4 == 3 ? 0 : 3);
  }
  auto store = outbox::open_store(uri);
  auto sink = outbox::open_sink("kafka://" + bootstrap() + "/" + topic);
  outbox::RelayOptions o;
  o.outbox = name;
  o.stop_when_idle = true;
  outbox::Relay relay(*store, *sink, o);
  relay.run();
  EXPECT_EQ(relay.stats().acknowledged, committed);

  const auto records = consume({topic}, static_cast<std::size_t>(committed));
  std::set<std::int64_t> ordernrs;
  std::map<std::string, std::int64_t> last_nr_of_key;
  std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>> by_partition;  // offset -> ordernr
  for (const auto& r : records) {
    const auto nrv = nlohmann::json::parse(r.value)["ordernr"].get<std::int64_t>();
    ordernrs.insert(nrv);
    by_partition[r.partition].emplace_back(r.offset, nrv);
  }
  EXPECT_EQ(static_cast<std::int64_t>(ordernrs.size()), committed) << "lost or rolled-back messages delivered";
  for (std::int64_t n : ordernrs) {
    const std::int64_t round = (n - 1) / 5, in_round = (n - 1) % 5;
    EXPECT_FALSE(round % 4 == 3 && in_round < 3) << "message " << n << " comes from a rolled-back transaction";
  }
  // Each key's messages come from one connection, in put order; within a partition the offsets of
  // one key must follow that order.
  for (auto& [p, v] : by_partition) {
    std::sort(v.begin(), v.end());
    std::map<std::int64_t, std::int64_t> last_of_key_class;
    for (const auto& [offset, n] : v) {
      const std::int64_t key = (n - 1) % 5 < 3 ? n % 5 : n % 5 + 5;
      EXPECT_GT(n, last_of_key_class[key]) << "key order broken in partition " << p;
      last_of_key_class[key] = n;
    }
  }
}

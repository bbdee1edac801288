// The NATS JetStream sink against a real nats-server: what a JetStream consumer reads back
// (payload, envelope headers, CloudEvents, subject per type), deduplication of a republished
// message, a subject without a stream (dead-lettered, or the stream created when asked).
#include "nats_fixture.hpp"

using namespace testing_nats;

class NatsSink : public NatsTest {};

TEST_F(NatsSink, DeliversEveryMessageWithItsEnvelopeHeadersInOrder) {
  Client client(server.url());
  client.add_stream("ORDERS", {"orders.events"});
  put_committed(1, 60);
  const auto stats = relay_all(server.url() + "/orders.events");
  EXPECT_EQ(stats.last_position, 60);
  EXPECT_EQ(stats.dead_lettered, 0);

  const auto records = client.read("ORDERS", "orders.events", 60);
  ASSERT_EQ(records.size(), 60u);
  auto store = outbox::open_store(uri());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const std::int64_t position = static_cast<std::int64_t>(i) + 1;
    EXPECT_EQ(r.subject, "orders.events");
    EXPECT_EQ(r.headers.at("position"), std::to_string(position)) << "stream order is position order";
    EXPECT_EQ(r.headers.at("type"), "order_created");
    EXPECT_EQ(r.headers.at("outbox"), "orders");
    EXPECT_FALSE(r.headers.at("created").empty());
    EXPECT_EQ(r.headers.at("traceparent"), "00-" + std::to_string(position) + "-01");
    EXPECT_EQ(r.headers.at("Nats-Msg-Id"), r.headers.at("id")) << "JetStream deduplicates on the envelope id";
    EXPECT_EQ(r.headers.at("Outbox-Key"), "order-" + std::to_string(position % 5));
    const auto data = nlohmann::json::parse(r.data);
    EXPECT_EQ(data["ordernr"], position) << r.data;
  }
  EXPECT_EQ(per_key_reorders(records), 0u);
}

TEST_F(NatsSink, CloudEventsBinaryModeUsesCeHeaders) {
  Client client(server.url());
  client.add_stream("CE", {"ce.orders"});
  put_committed(1, 3);
  relay_all(server.url() + "/ce.orders?cloudevents=true&source=/svc/orders");
  const auto records = client.read("CE", "ce.orders", 3);
  ASSERT_EQ(records.size(), 3u);
  const auto& h = records[0].headers;
  EXPECT_EQ(h.at("ce-specversion"), "1.0");
  EXPECT_EQ(h.at("ce-type"), "order_created");
  EXPECT_EQ(h.at("ce-source"), "/svc/orders");
  EXPECT_EQ(h.at("ce-id"), h.at("Nats-Msg-Id"));
  EXPECT_EQ(h.at("content-type"), "application/json");
  EXPECT_EQ(h.count("type"), 0u) << "CloudEvents mode replaces the plain envelope names";
}

TEST_F(NatsSink, SubjectTemplateSendsEachTypeToItsSubject) {
  Client client(server.url());
  client.add_stream("BYTYPE", {"orders.>"});
  put_committed(1, 4, 2, "order_created");
  put_committed(5, 8, 2, "order_completed");
  relay_all(server.url() + "/{outbox}.{type}");
  const auto records = client.read("BYTYPE", "orders.>", 8);
  ASSERT_EQ(records.size(), 8u);
  for (const auto& r : records) EXPECT_EQ(r.subject, "orders." + r.headers.at("type"));
}

TEST_F(NatsSink, ARepublishedMessageIsDroppedAsADuplicate) {
  Client client(server.url());
  client.add_stream("DEDUP", {"dedup"});
  put_committed(1, 20);
  relay_all(server.url() + "/dedup");
  // A relay that lost its checkpoint (seek back) publishes everything again with the same ids.
  auto store = outbox::open_store(uri());
  store->seek("orders", "default", store->checkpoint_before(1));
  relay_all(server.url() + "/dedup");
  EXPECT_EQ(client.stream_messages("DEDUP"), 20u) << "Nats-Msg-Id deduplicates within the window";
}

TEST_F(NatsSink, ASubjectWithoutAStreamIsDeadLetteredWithWhatToDo) {
  put_committed(1, 3);
  const auto stats = relay_all(server.url() + "/nowhere.orders", 2);
  EXPECT_EQ(stats.dead_lettered, 3);
  EXPECT_EQ(stats.last_position, 3) << "the stream moves on past dead letters";
  auto store = outbox::open_store(uri());
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_NE(dead[0].error.find("no stream listens on subject 'nowhere.orders'"), std::string::npos) << dead[0].error;
  EXPECT_NE(dead[0].error.find("create_stream"), std::string::npos) << dead[0].error;
}

TEST_F(NatsSink, CreatesTheStreamWhenAskedAndAddsEachSubjectOfATemplate) {
  put_committed(1, 3, 2, "order_created");
  put_committed(4, 6, 2, "order_completed");
  const auto stats = relay_all(server.url() + "/made.{type}?create_stream=MADE");
  EXPECT_EQ(stats.dead_lettered, 0);
  EXPECT_EQ(stats.last_position, 6);
  Client client(server.url());
  ASSERT_TRUE(client.has_stream("MADE"));
  EXPECT_EQ(client.read("MADE", "made.>", 6).size(), 6u);
}

TEST_F(NatsSink, ReportsAnUnreachableServerAsRetryableAndItsHealth) {
  auto sink = outbox::open_sink("nats://127.0.0.1:" + std::to_string(testing_cli::free_port()) + "/x");
  auto m = testing_sqlite::order_created(1, "k");
  m.position = 1;
  sink->publish(std::span<const outbox::Message>(&m, 1));
  const auto outcomes = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].outcome, outbox::Outcome::retryable) << outcomes[0].error;
  EXPECT_NE(sink->health().find("cannot connect"), std::string::npos) << sink->health();
}

TEST_F(NatsSink, DescribeAndErrorsNeverShowThePassword) {
  auto sink = outbox::open_sink("nats://relay:s3cr%40t@127.0.0.1:1/x");
  EXPECT_EQ(sink->describe().find("s3cr"), std::string::npos) << sink->describe();
  auto m = testing_sqlite::order_created(1, "k");
  m.position = 1;
  sink->publish(std::span<const outbox::Message>(&m, 1));
  const auto outcomes = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].error.find("s3cr"), std::string::npos) << outcomes[0].error;
  EXPECT_EQ(sink->health().find("s3cr"), std::string::npos) << sink->health();
}

TEST_F(NatsSink, AHeaderWithALineBreakIsDeadLetteredAndTheOthersStillArrive) {
  // A NATS header is one line: sending this one would corrupt the connection for every message.
  Client client(server.url());
  client.add_stream("LINES", {"lines"});
  put_committed(1, 2);
  testing_sqlite::exec(db, "BEGIN");
  auto m = testing_sqlite::order_created(3, "order-3");
  m.headers["note"] = "two\r\nlines";
  orders.put(db, m);
  testing_sqlite::exec(db, "COMMIT");
  put_committed(4, 5);
  const auto stats = relay_all(server.url() + "/lines", 2);
  EXPECT_EQ(stats.dead_lettered, 1);
  EXPECT_EQ(stats.last_position, 5);
  auto store = outbox::open_store(uri());
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 3);
  EXPECT_NE(dead[0].error.find("header 'note'"), std::string::npos) << dead[0].error;
  EXPECT_EQ(client.read("LINES", "lines", 4).size(), 4u);
}

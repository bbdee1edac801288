// The RabbitMQ sink against a real broker: what a consumer gets (properties, headers, body), per-key
// order over thousands of messages, returns (mandatory, no queue bound) retried on a fresh connection
// and dead-lettered after it while later messages go on, basic.nack retried, and an unknown exchange
// failing clearly.
#include <nlohmann/json.hpp>

#include "cli_run.hpp"
#include "rabbitmq_fixture.hpp"

using namespace testing_rabbitmq;
using namespace std::chrono_literals;

class RabbitmqSink : public RabbitmqTest {};

TEST_F(RabbitmqSink, DeliversPersistentMessagesWithPropertiesAndEnvelopeHeaders) {
  const std::string queue = bound_queue();
  put_committed(1, 10, 3);
  const auto stats = relay_all(sink_uri());
  EXPECT_EQ(stats.acknowledged, 10);
  const auto got = client->drain(queue, 10);
  ASSERT_EQ(got.size(), 10u);
  const auto t = static_cast<std::uint64_t>(std::time(nullptr));
  for (std::size_t i = 0; i < got.size(); ++i) {
    const Received& r = got[i];
    EXPECT_EQ(r.position(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(r.delivery_mode, 2) << "persistent";
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.type, "order_created");
    EXPECT_FALSE(r.message_id.empty());
    EXPECT_EQ(r.header.at("id"), r.message_id);
    EXPECT_EQ(r.header.at("type"), "order_created");
    EXPECT_EQ(r.header.at("outbox"), "orders");
    EXPECT_FALSE(r.header.at("created").empty());
    EXPECT_EQ(r.header.at("key"), "order-" + std::to_string((i + 1) % 3));
    EXPECT_EQ(r.header.at("traceparent"), "00-" + std::to_string(i + 1) + "-01");
    EXPECT_NEAR(static_cast<double>(r.timestamp), static_cast<double>(t), 120.0);
    EXPECT_EQ(nlohmann::json::parse(r.body), nlohmann::json({{"ordernr", i + 1}}));
  }
}

TEST_F(RabbitmqSink, RoutingKeyTemplateAndCloudEventsHeaders) {
  const std::string queue = bound_queue({"orders.order_created"});
  put_committed(1, 3);
  relay_all(sink_uri("&routing_key={outbox}.{type}&cloudevents=true&source=/shop"));
  const auto got = client->drain(queue, 3);
  ASSERT_EQ(got.size(), 3u);
  const Received& r = got[0];
  EXPECT_EQ(r.header.at("cloudEvents:specversion"), "1.0");
  EXPECT_EQ(r.header.at("cloudEvents:id"), r.message_id);
  EXPECT_EQ(r.header.at("cloudEvents:source"), "/shop");
  EXPECT_EQ(r.header.at("cloudEvents:type"), "order_created");
  EXPECT_EQ(r.header.at("cloudEvents:partitionkey"), "order-1");
  EXPECT_EQ(r.header.count("content-type"), 0u) << "the content_type property carries it";
  EXPECT_EQ(r.content_type, "application/json");
}

TEST_F(RabbitmqSink, KeepsEachKeysOrderOverThousandsOfMessages) {
  const std::string queue = bound_queue();
  put_committed(1, 4000, 23);
  const auto stats = relay_all(sink_uri(), 5, 333);
  EXPECT_EQ(stats.acknowledged, 4000);
  const auto c = check(client->drain(queue, 4000), 4000);
  EXPECT_EQ(c.distinct, 4000u) << "first missing " << c.first_missing;
  EXPECT_EQ(c.duplicates, 0u);
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
}

TEST_F(RabbitmqSink, AReturnedMessageIsDeadLetteredWhileLaterMessagesGoOn) {
  // Only order_created is bound: an order_completed is returned (mandatory), retried for the
  // connection's first 300 ms, then a permanent failure.
  const std::string queue = bound_queue();
  put_committed(1, 10, 4);
  put_committed(11, 11, 4, "order_completed");
  put_committed(12, 20, 4);
  backoff_max = 100ms;
  const auto stats = relay_all(sink_uri("&return_grace_ms=300"), 2);
  EXPECT_EQ(stats.dead_lettered, 1);
  EXPECT_EQ(stats.last_position, 20);
  const auto got = client->drain(queue, 19);
  const auto c = check(got, 0);
  EXPECT_EQ(c.distinct, 19u);
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  for (const auto& r : got) EXPECT_NE(r.position(), 11) << "the returned message went nowhere";
}

// A broker that has just restarted can accept connections before it routes to a durable queue again
// (a queue that failed to recover is restarted later; a consumer re-declares its binding when it
// reconnects). A return on a young connection is therefore retryable, and delivered once the binding
// is there, instead of dead-lettered after a second of retries.
TEST_F(RabbitmqSink, AReturnOnAFreshConnectionIsRetriedAndDeliveredOnceTheQueueIsBound) {
  auto sink = outbox::open_sink(sink_uri());  // the default grace, 10 s
  std::vector<outbox::Message> batch(1, testing_sqlite::order_created(1, "k"));
  batch[0].outbox = "orders";
  batch[0].position = 1;
  sink->publish(batch);
  auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::retryable) << d[0].error;
  EXPECT_NE(d[0].error.find("312 NO_ROUTE"), std::string::npos) << d[0].error;
  EXPECT_NE(d[0].error.find("return_grace_ms=10000"), std::string::npos) << d[0].error;

  const std::string queue = bound_queue();  // the consumer comes back
  sink->publish(batch);
  d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::ok) << d[0].error;
  EXPECT_EQ(client->drain(queue, 1).size(), 1u);

  // Without a grace a return is permanent at once.
  auto strict = outbox::open_sink(sink_uri("&return_grace_ms=0"));
  batch[0].type = "order_completed";
  strict->publish(batch);
  d = strict->poll(0ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::permanent) << d[0].error;
}

TEST_F(RabbitmqSink, ANackIsRetryableAndFailsTheRestOfTheBatch) {
  // A queue that refuses publishes beyond 3 messages: the broker nacks the 4th and later.
  const std::string queue = unique("full");
  amqp_table_entry_t args[2];
  args[0].key = amqp_cstring_bytes("x-max-length");
  args[0].value.kind = AMQP_FIELD_KIND_I32;
  args[0].value.value.i32 = 3;
  args[1].key = amqp_cstring_bytes("x-overflow");
  args[1].value.kind = AMQP_FIELD_KIND_UTF8;
  args[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
  client->declare_queue(queue, exchange, {"order_created"}, amqp_table_t{2, args});
  auto sink = outbox::open_sink(sink_uri());
  std::vector<outbox::Message> batch;
  for (int i = 1; i <= 6; ++i) {
    auto m = testing_sqlite::order_created(i, "k");
    m.outbox = "orders";
    m.id = "id-" + std::to_string(i);
    m.position = i;
    batch.push_back(std::move(m));
  }
  sink->publish(batch);
  const auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 6u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d[i].outcome, outbox::Outcome::ok) << d[i].error;
  EXPECT_EQ(d[3].outcome, outbox::Outcome::retryable);
  EXPECT_NE(d[3].error.find("basic.nack"), std::string::npos) << d[3].error;
  for (int i = 4; i < 6; ++i) {
    EXPECT_EQ(d[i].outcome, outbox::Outcome::retryable);
    EXPECT_NE(d[i].error.find("earlier message"), std::string::npos) << d[i].error;
  }
  EXPECT_EQ(client->drain(queue, 3).size(), 3u);
}

TEST_F(RabbitmqSink, AnUnknownExchangeFailsPermanentlyAndClearly) {
  const std::string missing = unique("no_such_exchange");
  const std::string uri = "amqp://guest:guest@" + endpoint() + "/?exchange=" + missing;
  auto sink = outbox::open_sink(uri);
  std::vector<outbox::Message> batch;
  for (int i = 1; i <= 3; ++i) {
    auto m = testing_sqlite::order_created(i, "k");
    m.outbox = "orders";
    m.id = "id-" + std::to_string(i);
    m.position = i;
    batch.push_back(std::move(m));
  }
  sink->publish(batch);
  auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::permanent);
  EXPECT_NE(d[0].error.find("exchange '" + missing + "' does not exist"), std::string::npos) << d[0].error;
  EXPECT_NE(d[0].error.find("404"), std::string::npos) << d[0].error;
  EXPECT_EQ(d[1].outcome, outbox::Outcome::retryable);
  EXPECT_EQ(d[2].outcome, outbox::Outcome::retryable);
  EXPECT_NE(sink->health().find("does not exist"), std::string::npos) << sink->health();
  std::printf("unknown exchange: %s\n", d[0].error.c_str());

  // Declared afterwards, the same sink reconnects and delivers.
  client->declare_exchange(missing);
  const std::string queue = unique("q");
  client->declare_queue(queue, missing, {"order_created"});
  sink->publish(batch);
  d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 3u);
  for (const auto& x : d) EXPECT_EQ(x.outcome, outbox::Outcome::ok) << x.error;
  EXPECT_EQ(sink->health(), "ok");
}

TEST_F(RabbitmqSink, WrongPasswordIsRetryableAndTheHealthSaysSoWithoutThePassword) {
  auto sink = outbox::open_sink("amqp://guest:hunter2@" + endpoint() + "/?exchange=" + exchange);
  std::vector<outbox::Message> batch(1, testing_sqlite::order_created(1, "k"));
  batch[0].outbox = "orders";
  batch[0].position = 1;
  sink->publish(batch);
  const auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::retryable);
  EXPECT_NE(sink->health().find("login"), std::string::npos) << sink->health();
  EXPECT_EQ(sink->health().find("hunter2"), std::string::npos) << sink->health();
  EXPECT_EQ(d[0].error.find("hunter2"), std::string::npos) << d[0].error;
}

TEST_F(RabbitmqSink, ABadUriIsACliUsageErrorNamingWhatIsWrong) {
  auto relay = [&](const std::string& sink) {
    return testing_support::cli("relay --store " + uri() + " --outbox orders --sink '" + sink + "'");
  };
  auto r = relay("amqp://guest:s3cret@" + endpoint() + "/?exchange=x&prefetch=10");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("'prefetch'"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("s3cret"), std::string::npos) << r.output;
  r = relay("amqp://" + endpoint() + "/");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("exchange"), std::string::npos) << r.output;
  r = relay("amqp://127.0.0.1:notaport/?exchange=x");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("port"), std::string::npos) << r.output;
}

// The message id and type travel as the message_id and type properties, and header names as a
// table's field names: AMQP short strings too. One over 255 bytes cannot be encoded, and used to
// fail the publish as if the connection broke, so the relay retried the same batch for ever.
TEST_F(RabbitmqSink, AnIdTypeOrHeaderNameOverTheAmqpLimitIsPermanentAndTheRestOfTheBatchRetried) {
  const std::string queue = bound_queue({"fixed"});
  auto sink = outbox::open_sink(sink_uri("&routing_key=fixed"));  // not {type}: only the property is long
  for (const char* const field : {"message id", "message type", "header name"}) {
    std::vector<outbox::Message> batch;
    for (int i = 1; i <= 3; ++i) {
      auto m = testing_sqlite::order_created(i, "k");
      m.outbox = "orders";
      m.id = "id-" + std::to_string(i) + field;
      m.position = i;
      batch.push_back(std::move(m));
    }
    if (field == std::string("message id")) batch[1].id = std::string(300, 'i');
    if (field == std::string("message type")) batch[1].type = std::string(300, 't');
    if (field == std::string("header name")) batch[1].headers[std::string(300, 'h')] = "v";
    sink->publish(batch);
    const auto d = sink->poll(0ms);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].outcome, outbox::Outcome::ok) << d[0].error;
    EXPECT_EQ(d[1].outcome, outbox::Outcome::permanent) << d[1].error;
    EXPECT_NE(d[1].error.find(field), std::string::npos) << d[1].error;
    EXPECT_NE(d[1].error.find("255"), std::string::npos) << d[1].error;
    EXPECT_EQ(d[2].outcome, outbox::Outcome::retryable);
    EXPECT_EQ(sink->health(), "ok") << "the connection is fine";
  }
  EXPECT_EQ(client->drain(queue, 3).size(), 3u);
}

TEST_F(RabbitmqSink, ARoutingKeyOverTheAmqpLimitIsPermanentAndTheRestOfTheBatchRetried) {
  const std::string queue = bound_queue();
  auto sink = outbox::open_sink(sink_uri());
  std::vector<outbox::Message> batch;
  for (int i = 1; i <= 3; ++i) {
    auto m = testing_sqlite::order_created(i, "k");
    m.outbox = "orders";
    m.id = "id-" + std::to_string(i);
    m.position = i;
    batch.push_back(std::move(m));
  }
  batch[1].type = std::string(300, 't');  // the routing key is {type}
  sink->publish(batch);
  const auto d = sink->poll(0ms);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::ok) << d[0].error;
  EXPECT_EQ(d[1].outcome, outbox::Outcome::permanent);
  EXPECT_NE(d[1].error.find("255"), std::string::npos) << d[1].error;
  EXPECT_EQ(d[2].outcome, outbox::Outcome::retryable);
  EXPECT_EQ(sink->health(), "ok") << "the connection is fine";
  EXPECT_EQ(client->drain(queue, 1).size(), 1u);
}

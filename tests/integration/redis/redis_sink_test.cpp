// The Redis Streams sink against a real redis-server: the entry's fields (envelope, headers, key,
// data), order, stream templates, CloudEvents mode, MAXLEN trimming, and dead letters for what the
// server refuses.
#include <thread>

#include "redis_fixture.hpp"

using namespace testing_redis;

class RedisSink : public RedisTest {};

TEST_F(RedisSink, DeliversEnvelopeFieldsHeadersKeyAndDataInCommitOrder) {
  const std::string stream = unique_stream("fields");
  put_committed(1, 300);
  const auto stats = relay_all(sink_uri(stream));
  EXPECT_EQ(stats.acknowledged, 300);

  const auto entries = redis.read(stream);
  ASSERT_EQ(entries.size(), 300u);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& f = entries[i].last;
    const std::int64_t position = entries[i].position();
    EXPECT_EQ(position, static_cast<std::int64_t>(i + 1)) << "one stream: entries in position order";
    const auto data = nlohmann::json::parse(f.at("data"));
    EXPECT_EQ(data["ordernr"], position) << "data is the message's data";
    EXPECT_EQ(f.at("key"), "order-" + std::to_string(position % 5));
    EXPECT_EQ(f.at("type"), "order_created");
    EXPECT_EQ(f.at("outbox"), "orders");
    EXPECT_EQ(f.at("traceparent"), "00-" + std::to_string(position) + "-01");
    EXPECT_NO_THROW(outbox::parse_timestamp(f.at("created")));
    EXPECT_EQ(f.at("id").size(), 36u);
    ids.insert(f.at("id"));
    EXPECT_EQ(entries[i].fields.back().first, "data") << "data comes last";
  }
  EXPECT_EQ(ids.size(), 300u);
  const auto c = redis.command({"XINFO", "STREAM", stream});
  EXPECT_EQ(c->type, REDIS_REPLY_ARRAY) << "a real stream";
}

TEST_F(RedisSink, KeepsEachKeysOrderAcrossManyMessagesAndStreams) {
  const std::string prefix = unique_stream("order");
  for (int t = 0; t < 10; ++t) {
    put_committed(t * 400 + 1, t * 400 + 200, 37, "order_created");
    put_committed(t * 400 + 201, t * 400 + 400, 37, "order_completed");
  }
  const auto stats = relay_all(sink_uri(prefix + ".{type}"));
  EXPECT_EQ(stats.acknowledged, 4000);
  // Each key has messages of both types: within each stream its positions must rise.
  std::size_t total = 0;
  for (const char* type : {"order_created", "order_completed"}) {
    const auto entries = redis.read(prefix + "." + type);
    total += entries.size();
    const auto c = check(entries, 0);
    EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
    EXPECT_EQ(c.duplicates, 0u);
    for (const auto& e : entries) EXPECT_EQ(e.last.at("type"), type);
  }
  EXPECT_EQ(total, 4000u);
}

TEST_F(RedisSink, StreamTemplateRoutesByOutboxAndType) {
  const std::string prefix = unique_stream("tmpl");
  put_committed(1, 10, 2, "order_created");
  put_committed(11, 14, 2, "order_completed");
  relay_all(sink_uri(prefix + ".{outbox}.{type}"));
  EXPECT_EQ(redis.xlen(prefix + ".orders.order_created"), 10);
  EXPECT_EQ(redis.xlen(prefix + ".orders.order_completed"), 4);
}

TEST_F(RedisSink, CloudEventsBinaryMode) {
  const std::string stream = unique_stream("ce");
  put_committed(1, 3);
  relay_all(sink_uri(stream, "?cloudevents=true&source=/services/orders"));
  const auto entries = redis.read(stream);
  ASSERT_EQ(entries.size(), 3u);
  const auto& f = entries[0].last;
  EXPECT_EQ(f.at("ce_specversion"), "1.0");
  EXPECT_EQ(f.at("ce_type"), "order_created");
  EXPECT_EQ(f.at("ce_source"), "/services/orders");
  EXPECT_EQ(f.at("ce_id").size(), 36u);
  EXPECT_NO_THROW(outbox::parse_timestamp(f.at("ce_time")));
  EXPECT_EQ(f.at("content-type"), "application/json");
  EXPECT_EQ(f.count("id"), 0u) << "binary mode uses ce_ names only";
  EXPECT_EQ(nlohmann::json::parse(f.at("data"))["ordernr"], 1);
}

TEST_F(RedisSink, MaxlenTrimsTheStreamApproximately) {
  const std::string stream = unique_stream("maxlen");
  put_committed(1, 3000);
  const auto stats = relay_all(sink_uri(stream, "?maxlen=500"));
  EXPECT_EQ(stats.acknowledged, 3000);
  const auto len = redis.xlen(stream);
  // MAXLEN ~ trims whole macro nodes (100 entries by default): at least 500 stay, not all 3000.
  EXPECT_GE(len, 500);
  EXPECT_LT(len, 1000);
  EXPECT_EQ(redis.read(stream).back().position(), 3000) << "trimming drops the oldest";
}

TEST_F(RedisSink, WrongTypeIsDeadLetteredAndTheStreamGoesOn) {
  const std::string prefix = unique_stream("wrongtype");
  // The completed events' stream key already holds a plain string: XADD gets WRONGTYPE.
  redis.command({"SET", prefix + ".order_completed", "not a stream"});
  put_committed(1, 2);
  put_committed(3, 3, 5, "order_completed");
  put_committed(4, 5);
  const auto stats = relay_all(sink_uri(prefix + ".{type}"), 2);
  EXPECT_EQ(stats.dead_lettered, 1);
  EXPECT_EQ(stats.acknowledged, 4);
  auto store = outbox::open_store(uri());
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 3);
  EXPECT_NE(dead[0].error.find("WRONGTYPE"), std::string::npos) << dead[0].error;
  EXPECT_EQ(store->status("orders").consumers.at(0).lag_messages, 0);
  // 4 and 5 were reported failed behind 3 and resent (Redis had run them: duplicates, same ids).
  const auto c = check(redis.read(prefix + ".order_created"), 0);
  EXPECT_EQ(c.distinct, 4u);
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  EXPECT_EQ(redis.command({"GET", prefix + ".order_completed"})->str, std::string("not a stream"));
}

TEST_F(RedisSink, AuthenticatesAndRefusedCredentialsAreRetriedNotDeadLettered) {
  // An ACL user that may only append to streams under its prefix.
  const std::string user = unique_stream("relay");
  const std::string prefix = unique_stream("acl");
  ASSERT_EQ(
      redis.command({"ACL", "SETUSER", user, "on", ">pa@ss", "~" + prefix + "*", "+xadd", "+multi", "+exec"})->type,
      REDIS_REPLY_STATUS);
  put_committed(1, 5);
  const auto stats = relay_all("redis://" + user + ":pa%40ss@" + endpoint() + "/" + prefix + ".s");
  EXPECT_EQ(stats.acknowledged, 5);
  EXPECT_EQ(redis.xlen(prefix + ".s"), 5);

  // A wrong password: every publish fails retryable, health says why, nothing is dead-lettered.
  auto sink = outbox::open_sink("redis://" + user + ":wrong@" + endpoint() + "/" + prefix + ".s");
  std::vector<outbox::Message> batch(2);
  for (int i = 0; i < 2; ++i) {
    batch[i] = testing_sqlite::order_created(i + 1);
    batch[i].outbox = "orders";
    batch[i].position = i + 1;
  }
  sink->publish(batch);
  for (const auto& d : sink->poll(std::chrono::milliseconds(0))) EXPECT_EQ(d.outcome, outbox::Outcome::retryable);
  EXPECT_NE(sink->health().find("AUTH refused"), std::string::npos) << sink->health();
  EXPECT_EQ(sink->health().find("wrong"), std::string::npos) << "no password in health";
  redis.command({"ACL", "DELUSER", user});
}

namespace {

std::vector<outbox::Message> batch_of(const std::vector<const char*>& types) {
  std::vector<outbox::Message> batch;
  for (std::size_t i = 0; i < types.size(); ++i) {
    auto m = testing_sqlite::order_created(static_cast<std::int64_t>(i + 1), "k");
    m.outbox = "orders";
    m.type = types[i];
    m.position = static_cast<std::int64_t>(i + 1);
    batch.push_back(std::move(m));
  }
  return batch;
}

}  // namespace

TEST_F(RedisSink, MessagesAfterAFailureInTheSameBatchAreFailedToo) {
  // The sink contract: once a message fails, nothing after it in the batch may count as delivered,
  // or a later message of its key would be checkpointed ahead of the failed one's retry.
  const std::string prefix = unique_stream("behind");
  redis.command({"SET", prefix + ".order_completed", "not a stream"});
  auto sink = outbox::open_sink(sink_uri(prefix + ".{type}"));
  sink->publish(batch_of({"order_created", "order_completed", "order_created", "order_created"}));
  const auto d = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::ok);
  EXPECT_EQ(d[1].outcome, outbox::Outcome::permanent);
  EXPECT_NE(d[1].error.find("WRONGTYPE"), std::string::npos) << d[1].error;
  for (int i : {2, 3}) {
    EXPECT_EQ(d[i].outcome, outbox::Outcome::retryable) << i;
    EXPECT_NE(d[i].error.find("an earlier message failed"), std::string::npos) << d[i].error;
  }
  EXPECT_EQ(sink->health(), "ok") << "a refused message is no connection problem";
}

TEST_F(RedisSink, OutOfMemoryIsRetriedUntilMemoryIsFreedAndNothingIsDeadLettered) {
  const std::string stream = unique_stream("oom");
  put_committed(1, 50);
  // Any write over maxmemory with noeviction gets OOM; MULTI/EXEC then stores nothing of the batch.
  redis.command({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
  redis.command({"CONFIG", "SET", "maxmemory", "1"});
  auto sink = outbox::open_sink(sink_uri(stream));
  sink->publish(batch_of({"order_created", "order_created", "order_created"}));
  for (const auto& d : sink->poll(std::chrono::milliseconds(0))) {
    EXPECT_EQ(d.outcome, outbox::Outcome::retryable) << d.error;
  }
  EXPECT_NE(sink->health().find("OOM"), std::string::npos) << sink->health();
  EXPECT_EQ(redis.xlen(stream), 0) << "an aborted transaction stores nothing";

  // The relay keeps retrying (max_attempts 1 would dead-letter a permanent failure at once) until
  // memory is freed.
  std::thread freer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Client admin;
    admin.command({"CONFIG", "SET", "maxmemory", "0"});
  });
  const auto stats = relay_all(sink_uri(stream), 1);
  freer.join();
  EXPECT_EQ(stats.dead_lettered, 0);
  EXPECT_EQ(stats.acknowledged, 50);
  EXPECT_GT(stats.retries, 0);
  const auto c = check(redis.read(stream), 50);
  EXPECT_EQ(c.distinct, 50u) << "first missing " << c.first_missing;
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
}

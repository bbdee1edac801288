// Redis sink URI parsing and what it refuses: no server needed.
#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/redis.hpp"
#include "outbox/store.hpp"

using namespace outbox;

TEST(RedisUri, HostPortStreamAndParameters) {
  auto o = redis::parse_uri(
      "redis://app:s%40cret@cache.local:6380/{outbox}.{type}?maxlen=1000&cloudevents=true&source=/svc");
  EXPECT_EQ(o.user, "app");
  EXPECT_EQ(o.password, "s@cret");
  EXPECT_EQ(o.host, "cache.local");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.stream, "{outbox}.{type}");
  EXPECT_EQ(o.maxlen, 1000);
  EXPECT_TRUE(o.cloudevents);
  EXPECT_EQ(o.cloudevents_source, "/svc");

  o = redis::parse_uri("redis://127.0.0.1/events");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.maxlen, 0);
  EXPECT_TRUE(o.password.empty());
  o = redis::parse_uri("redis://:pw@[::1]:7000/s");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.user, "");
  EXPECT_EQ(o.password, "pw");
}

TEST(RedisUri, BadInputIsAUsageErrorSayingWhat) {
  auto message = [](const std::string& uri) {
    try {
      redis::parse_uri(uri);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("redis://h:1/s?linger=5").find("'linger'"), std::string::npos) << "names the unknown key";
  EXPECT_NE(message("redis://h:1").find("needs a stream"), std::string::npos);
  EXPECT_NE(message("redis://h:1/").find("needs a stream"), std::string::npos);
  EXPECT_NE(message("redis://:1/s").find("needs a host"), std::string::npos);
  EXPECT_NE(message("redis://h:99999/s").find("port"), std::string::npos);
  EXPECT_NE(message("redis://h:x/s").find("port"), std::string::npos);
  EXPECT_NE(message("redis://h:1/s?maxlen=0").find("maxlen"), std::string::npos);
  EXPECT_NE(message("redis://h:1/s?maxlen=-3").find("maxlen"), std::string::npos);
  EXPECT_NE(message("redis://h:1/s?maxlen=1e9").find("maxlen"), std::string::npos);
  EXPECT_NE(message("redis://h:1/s?cloudevents=yes").find("true or false"), std::string::npos);
  EXPECT_NE(message("redis://h:1/{key}").find("key"), std::string::npos) << "unknown placeholder";
  EXPECT_NE(message("redis://h:1/{outbox").find("stream"), std::string::npos);
  EXPECT_NE(message("redis://user@h:1/s").find("USER:PASSWORD"), std::string::npos);
  EXPECT_NE(message("redis://u:%zz@h:1/s").find("%-escape"), std::string::npos);
  EXPECT_NE(message("redis://u:pw%@h:1/s").find("%-escape"), std::string::npos);
  EXPECT_NE(message("redis://[::1/s").find("'['"), std::string::npos);
  EXPECT_NE(message("redis://h:/s").find("port"), std::string::npos) << "an empty port is no default";
  EXPECT_THROW(open_sink("redis://127.0.0.1:1/s", {{"timeout", "1"}}), UsageError) << "no client properties";
}

TEST(RedisUri, OddInputIsAcceptedOrAUsageErrorNeverACrash) {
  for (const std::string& uri : std::vector<std::string>{
           "redis://", "redis:///", "redis://@/", "redis://:@h:1/s", "redis://[]:1/s", "redis://[::1]x/s",
           "redis://a:b@c@d:1/s", "redis://h:1/s?=", "redis://h:1/s?&&", "redis://h:1/s?maxlen",
           "redis://h:1/s?maxlen=99999999999999999999", "redis://h:1/{}", "redis://h:1/}", "redis://h:1/%",
           "redis://h:1//", "redis://h:1/s/t?source=a=b", "redis://" + std::string(100000, 'h') + ":1/s",
           "redis://h:1/" + std::string(100000, '{')}) {
    try {
      const auto o = redis::parse_uri(uri);
      EXPECT_FALSE(o.host.empty()) << uri.substr(0, 60);
      EXPECT_FALSE(o.stream.empty()) << uri.substr(0, 60);
    } catch (const UsageError& e) {
      EXPECT_LT(std::string(e.what()).size(), 1000u) << "a huge URI is shortened in the message";
    }
  }
}

TEST(RedisUri, PasswordNeverShows) {
  const std::string uri = "redis://app:hunter2@127.0.0.1:1/s";
  auto sink = open_sink(uri);
  EXPECT_EQ(sink->describe(), "redis://app:***@127.0.0.1:1/s");
  EXPECT_EQ(redact_uri(uri).find("hunter2"), std::string::npos);
  try {
    open_sink("redis://app:hunter2@127.0.0.1:1/s?nope=1");
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  try {
    open_sink("redis://app:hunter2@127.0.0.1:bad/s");
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(RedisSink, NoServerMeansRetryableAndUnhealthyNeverPermanent) {
  // Port 1 on loopback: connection refused at once.
  auto sink = open_sink("redis://127.0.0.1:1/s");
  std::vector<Message> batch(3);
  for (int i = 0; i < 3; ++i) {
    batch[i].outbox = "orders";
    batch[i].type = "t";
    batch[i].position = i + 1;
  }
  sink->publish(batch);
  const auto outcomes = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& d : outcomes) {
    EXPECT_EQ(d.outcome, Outcome::retryable) << d.error;
    EXPECT_NE(d.error.find("cannot connect"), std::string::npos) << d.error;
  }
  EXPECT_NE(sink->health().find("cannot connect"), std::string::npos) << sink->health();
}

// The URI splitting and value parsing every broker sink shares (include/outbox/sink_uri.hpp).
#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/sink_uri.hpp"

using namespace outbox;

TEST(SinkUri, SplitsUserinfoAuthorityPathAndParams) {
  const auto p = split_sink_uri("redis://u:p%40ss@w0rd@h:6379,h2:6380/a/b?x=1&flag&&y=", "redis://", "Redis sink");
  ASSERT_TRUE(p.userinfo.has_value());
  EXPECT_EQ(*p.userinfo, "u:p%40ss@w0rd") << "the last '@' ends the credentials";
  EXPECT_EQ(p.authority, "h:6379,h2:6380");
  ASSERT_TRUE(p.path.has_value());
  EXPECT_EQ(*p.path, "a/b");
  ASSERT_EQ(p.params.size(), 3u) << "an empty item between '&&' is skipped";
  EXPECT_EQ(p.params[0], (std::pair<std::string, std::string>{"x", "1"}));
  EXPECT_EQ(p.params[1], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(p.params[2], (std::pair<std::string, std::string>{"y", ""}));

  const auto bare = split_sink_uri("nats://h", "nats://", "NATS sink");
  EXPECT_FALSE(bare.userinfo.has_value());
  EXPECT_FALSE(bare.path.has_value());
  EXPECT_TRUE(bare.params.empty());
  EXPECT_EQ(*split_sink_uri("nats://h/", "nats://", "NATS sink").path, "");
}

TEST(SinkUri, AnotherSchemeIsRefusedWithoutThePassword) {
  try {
    split_sink_uri("kafka://u:hunter2@h/t", "redis://", "Redis sink");
    FAIL() << "another scheme was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a Redis sink URI"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(SinkUri, PercentDecodingAndItsErrors) {
  EXPECT_EQ(percent_decode("p%40ss%2Fw%3a", "password"), "p@ss/w:");
  for (const char* bad : {"%", "%4", "%zz", "ab%g1"}) {
    try {
      percent_decode(bad, "Redis password");
      FAIL() << bad << " was decoded";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("Redis password"), std::string::npos) << e.what();
    }
  }
}

TEST(SinkUri, NumbersAndBooleans) {
  EXPECT_EQ(parse_whole_number("42", "maxlen", 1, 100), 42);
  for (const char* bad : {"", "0", "101", "-1", "1e3", "4 2", "42x", "99999999999999999999999"}) {
    EXPECT_THROW(parse_whole_number(bad, "maxlen", 1, 100), UsageError) << bad;
  }
  const std::string huge(10'000, '9');
  try {
    parse_whole_number(huge, "maxlen", 1, 100);
  } catch (const UsageError& e) {
    EXPECT_LT(std::string(e.what()).size(), 200u) << "a huge value is cut in the message";
  }
  EXPECT_TRUE(parse_true_false("true", "cloudevents"));
  EXPECT_FALSE(parse_true_false("false", "cloudevents"));
  EXPECT_THROW(parse_true_false("yes", "cloudevents"), UsageError);
}

// NATS sink URI parsing and the checks that need no server: servers, credentials, parameters,
// subjects and stream names; every bad input is a UsageError that says what to do.
#include <gtest/gtest.h>

#include <random>

#include "outbox/errors.hpp"
#include "outbox/nats.hpp"

using namespace outbox;

namespace {

std::string usage_error(const std::string& uri) {
  try {
    nats::parse_uri(uri);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(NatsUri, ServersCredentialsSubjectAndParameters) {
  auto o = nats::parse_uri(
      "nats://relay:p%40ss%2Fw@127.0.0.1:4222,10.0.0.2:4223/{outbox}.{type}?create_stream=ORDERS&replicas=3"
      "&cloudevents=true&source=/svc/orders&ack_timeout_ms=2500&max_pending=100");
  EXPECT_EQ(o.servers, (std::vector<std::string>{"127.0.0.1:4222", "10.0.0.2:4223"}));
  EXPECT_EQ(o.user, "relay");
  EXPECT_EQ(o.password, "p@ss/w") << "percent-decoded";
  EXPECT_EQ(o.subject, "{outbox}.{type}");
  EXPECT_EQ(o.create_stream, "ORDERS");
  EXPECT_EQ(o.replicas, 3);
  EXPECT_TRUE(o.cloudevents);
  EXPECT_EQ(o.cloudevents_source, "/svc/orders");
  EXPECT_EQ(o.ack_timeout_ms, 2500);
  EXPECT_EQ(o.max_pending, 100);

  const auto plain = nats::parse_uri("nats://localhost/orders");
  EXPECT_EQ(plain.servers, std::vector<std::string>{"localhost"}) << "the port defaults to libnats' 4222";
  EXPECT_TRUE(plain.user.empty());
  EXPECT_FALSE(plain.cloudevents);
  EXPECT_TRUE(plain.create_stream.empty());
  EXPECT_EQ(nats::parse_uri("nats://[::1]:4222/x").servers, std::vector<std::string>{"[::1]:4222"});
}

TEST(NatsUri, UnknownParameterIsRefusedByName) {
  const auto e = usage_error("nats://h:4222/s?create_strem=X");
  EXPECT_NE(e.find("'create_strem'"), std::string::npos) << e;
  EXPECT_NE(e.find("create_stream"), std::string::npos) << "lists what the URI takes: " << e;
}

TEST(NatsUri, BadInputSaysWhatToDo) {
  for (const std::string uri : {"nats://",
                                "nats://h:4222",
                                "nats://h:4222/",
                                "nats:///s",
                                "nats://h:port/s",
                                "nats://h:99999/s",
                                "nats://h:4222,/s",
                                "nats://,h/s",
                                "nats://:4222/s",
                                "nats://[::1/s",
                                "nats://h:/s",
                                "nats://:pw@h/s",
                                "nats://u:%zz@h/s",
                                "nats://h/s?cloudevents=yes",
                                "nats://h/s?replicas=0",
                                "nats://h/s?replicas=3",
                                "nats://h/s?create_stream=a.b",
                                "nats://h/s?create_stream=",
                                "nats://h/s?ack_timeout_ms=-1",
                                "nats://h/s?max_pending=1e3",
                                "nats://h/orders.*",
                                "nats://h/orders.>",
                                "nats://h/a..b",
                                "nats://h/.a",
                                "nats://h/a b",
                                "nats://h/{outbox}.{key}",
                                "nats://h/{outbox",
                                "kafka://h/s"}) {
    EXPECT_FALSE(usage_error(uri).empty()) << uri << " was accepted";
  }
  EXPECT_NE(usage_error("nats://h/orders.*").find("wildcards"), std::string::npos);
  EXPECT_NE(usage_error("nats://h/s?replicas=3").find("create_stream"), std::string::npos);
}

TEST(NatsUri, PasswordsStayOutOfErrorsAndDescribe) {
  EXPECT_EQ(usage_error("nats://u:hunter2@h:bad/s").find("hunter2"), std::string::npos);
  EXPECT_EQ(usage_error("nats://u:hunter2@h/s?x=1").find("hunter2"), std::string::npos);
  auto sink = open_sink("nats://u:hunter2@127.0.0.1:1/s");
  EXPECT_EQ(sink->describe(), "nats://u:***@127.0.0.1:1/s");
}

TEST(NatsUri, ClientPropertiesAreRefused) {
  EXPECT_THROW(open_sink("nats://127.0.0.1:1/s", {{"linger.ms", "5"}}), UsageError);
}

TEST(NatsUri, ArbitraryInputIsAcceptedOrAUsageErrorNeverACrash) {
  // Fragments of real URIs shuffled together: every outcome must be a parse or a UsageError.
  const std::vector<std::string> parts = {"nats://",
                                          "u",
                                          ":",
                                          "p%41",
                                          "%",
                                          "@",
                                          "h",
                                          "[::1]",
                                          "[",
                                          "]",
                                          "4222",
                                          ",",
                                          "/",
                                          "a.b",
                                          "{type}",
                                          "{outbox}",
                                          "{",
                                          "}",
                                          ".",
                                          "*",
                                          ">",
                                          " ",
                                          "?",
                                          "&",
                                          "=",
                                          "create_stream",
                                          "replicas",
                                          "cloudevents",
                                          "true",
                                          "source",
                                          "ack_timeout_ms",
                                          "max_pending",
                                          "99999999999999999999",
                                          "-1",
                                          "\n",
                                          "\x01"};
  std::mt19937 rng(12345);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string uri = i % 2 ? "nats://" : "";
    const int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int j = 0; j < n; ++j) uri += parts[std::uniform_int_distribution<std::size_t>(0, parts.size() - 1)(rng)];
    try {
      nats::parse_uri(uri);
      ++parsed;
    } catch (const UsageError&) {
    }
  }
  EXPECT_GT(parsed, 0) << "some of them are valid URIs";
}

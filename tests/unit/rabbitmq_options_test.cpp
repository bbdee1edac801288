// RabbitMQ sink URI parsing and what it refuses: no broker needed.
#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/rabbitmq.hpp"
#include "outbox/store.hpp"

using namespace outbox;

TEST(RabbitmqUri, HostPortVhostAndParameters) {
  auto o = rabbitmq::parse_uri(
      "amqp://app:s%40cret@mq.local:5673/prod?exchange=orders&routing_key={outbox}.{type}&cloudevents=true"
      "&source=/svc&confirm_timeout_ms=2500&return_grace_ms=0");
  EXPECT_EQ(o.host, "mq.local");
  EXPECT_EQ(o.port, 5673);
  EXPECT_EQ(o.user, "app");
  EXPECT_EQ(o.password, "s@cret");
  EXPECT_TRUE(o.credentials_given);
  EXPECT_EQ(o.vhost, "prod");
  EXPECT_EQ(o.exchange, "orders");
  EXPECT_EQ(o.routing_key, "{outbox}.{type}");
  EXPECT_TRUE(o.cloudevents);
  EXPECT_EQ(o.cloudevents_source, "/svc");
  EXPECT_EQ(o.confirm_timeout_ms, 2500);
  EXPECT_EQ(o.return_grace_ms, 0);

  o = rabbitmq::parse_uri("amqp://127.0.0.1?exchange=x");
  EXPECT_EQ(o.return_grace_ms, 10000) << "returns are retried for a fresh connection's first 10 s";
  EXPECT_EQ(o.port, 5672);
  EXPECT_EQ(o.vhost, "/");
  EXPECT_EQ(o.user, "guest");
  EXPECT_FALSE(o.credentials_given);
  EXPECT_EQ(o.routing_key, "{type}") << "the default routing key";
  EXPECT_EQ(rabbitmq::parse_uri("amqp://h/?exchange=x").vhost, "/");
  EXPECT_EQ(rabbitmq::parse_uri("amqp://h/%2F?exchange=x").vhost, "/");
  EXPECT_EQ(rabbitmq::parse_uri("amqp://h/a%2Fb?exchange=x").vhost, "a/b");
  EXPECT_EQ(rabbitmq::parse_uri("amqp://h?exchange=").exchange, "") << "the default exchange";
  o = rabbitmq::parse_uri("amqp://u:p@[::1]:7000/v?exchange=e");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
}

TEST(RabbitmqUri, BadInputIsAUsageErrorSayingWhat) {
  auto message = [](const std::string& uri) -> std::string {
    try {
      rabbitmq::parse_uri(uri);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(message("amqp://h:1/v?exchange=x&linger=5").find("'linger'"), std::string::npos) << "names the unknown key";
  EXPECT_NE(message("amqp://h:1/v").find("exchange"), std::string::npos) << "an exchange must be named";
  EXPECT_NE(message("amqp://:1/v?exchange=x").find("needs a host"), std::string::npos);
  EXPECT_NE(message("amqp://h:99999/v?exchange=x").find("port"), std::string::npos);
  EXPECT_NE(message("amqp://h:x/v?exchange=x").find("port"), std::string::npos);
  EXPECT_NE(message("amqp://h:/v?exchange=x").find("port"), std::string::npos) << "an empty port is no default";
  EXPECT_NE(message("amqp://h/a/b?exchange=x").find("%2F"), std::string::npos);
  EXPECT_NE(message("amqp://h/%zz?exchange=x").find("%-escape"), std::string::npos);
  EXPECT_NE(message("amqp://h?exchange=x&cloudevents=yes").find("true or false"), std::string::npos);
  EXPECT_NE(message("amqp://h?exchange=x&confirm_timeout_ms=0").find("confirm_timeout_ms"), std::string::npos);
  EXPECT_NE(message("amqp://h?exchange=x&return_grace_ms=-1").find("return_grace_ms"), std::string::npos);
  EXPECT_NE(message("amqp://h?exchange=x&routing_key={key}").find("key"), std::string::npos) << "unknown placeholder";
  EXPECT_NE(message("amqp://h?exchange=x&routing_key={type").find("routing key"), std::string::npos);
  EXPECT_NE(message("amqp://user@h?exchange=x").find("USER:PASSWORD"), std::string::npos);
  EXPECT_NE(message("amqp://h1:1,h2:2?exchange=x").find("one HOST:PORT"), std::string::npos);
  EXPECT_NE(message("amqp://[::1/v?exchange=x").find("'['"), std::string::npos);
  EXPECT_NE(message("redis://h/v?exchange=x").find("not a RabbitMQ sink URI"), std::string::npos);
  EXPECT_THROW(open_sink("amqp://127.0.0.1:1/?exchange=x", {{"frame_max", "1"}}), UsageError) << "no client properties";
}

TEST(RabbitmqUri, OddInputIsAcceptedOrAUsageErrorNeverACrash) {
  for (const std::string& uri : std::vector<std::string>{
           "amqp://", "amqp:///", "amqp://@/", "amqp://:@h:1/v?exchange=x", "amqp://[]:1/v?exchange=x",
           "amqp://h:1/v?=", "amqp://h:1/v?&&", "amqp://h:1/v?exchange", "amqp://h:1/%?exchange=x",
           "amqp://h:1/v?exchange=x&routing_key=", "amqp://h:1/v?exchange=x&routing_key={}",
           "amqp://" + std::string(100000, 'h') + ":1/v?exchange=x",
           "amqp://h:1/v?exchange=x&routing_key=" + std::string(100000, '{')}) {
    try {
      rabbitmq::parse_uri(uri);
    } catch (const UsageError& e) {
      EXPECT_LT(std::string(e.what()).size(), 2000u) << "a huge URI is cut in its error";
    }
  }
}

TEST(RabbitmqUri, PasswordNeverShows) {
  const std::string uri = "amqp://app:hunter2@127.0.0.1:1/prod?exchange=orders";
  auto sink = open_sink(uri);
  EXPECT_EQ(sink->describe(), "amqp://app:***@127.0.0.1:1/prod?exchange=orders&routing_key={type}");
  EXPECT_EQ(open_sink("amqp://127.0.0.1:1?exchange=x")->describe(),
            "amqp://127.0.0.1:1/%2F?exchange=x&routing_key={type}");
  EXPECT_EQ(redact_uri(uri).find("hunter2"), std::string::npos);
  for (const std::string& bad : {"amqp://app:hunter2@127.0.0.1:1/v?exchange=x&nope=1",
                                 "amqp://app:hunter2@127.0.0.1:bad/v?exchange=x", "amqp://app:hunter2@127.0.0.1/v"}) {
    try {
      open_sink(bad);
      ADD_FAILURE() << "accepted";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
  // Nor in health() after a failed login (port 1: refused at once, the health names the endpoint).
  std::vector<Message> batch(1);
  batch[0].outbox = "orders";
  batch[0].type = "t";
  batch[0].position = 1;
  sink->publish(batch);
  sink->poll(std::chrono::milliseconds(0));
  EXPECT_EQ(sink->health().find("hunter2"), std::string::npos) << sink->health();
}

TEST(RabbitmqSink, NoBrokerMeansRetryableAndUnhealthyNeverPermanent) {
  auto sink = open_sink("amqp://127.0.0.1:1/?exchange=x");
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

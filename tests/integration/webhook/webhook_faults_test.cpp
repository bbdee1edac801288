// What the receiver's answers and failures mean: 500 and 429 are retried in order (lost 0,
// reorders 0), Retry-After holds the sink back, 400 is dead-lettered, a timeout and a receiver that
// is down are retryable, and one that comes back gets everything.
#include <atomic>
#include <ctime>

#include "webhook_fixture.hpp"

using namespace testing_webhook;
using namespace std::chrono_literals;

class WebhookFaults : public WebhookTest {
 protected:
  // One message straight through the sink: its outcome.
  outbox::Delivery publish_one(outbox::Sink& sink, std::int64_t position = 1) {
    outbox::Message m = testing_sqlite::order_created(static_cast<int>(position), "k");
    m.id = "0190c0de-0000-7000-8000-00000000000" + std::to_string(position % 10);
    m.outbox = "orders";
    m.position = position;
    sink.publish(std::span(&m, 1));
    auto d = sink.poll(30s);
    if (d.size() != 1) throw std::runtime_error("expected one outcome");
    return d[0];
  }
};

TEST_F(WebhookFaults, ScriptedServerErrorsAndThrottlingLoseNothingAndKeepEachKeysOrder) {
  // Each refusal costs a relay backoff, so a hundred messages are enough to see order kept.
  put_committed(1, 120, 7);
  // Every 5th request 500, every 13th 429 (Retry-After 0: retry at once), the rest 200.
  std::atomic<int> n{0};
  receiver.set_rule([&](const Request&) {
    const int i = ++n;
    if (i % 13 == 0) return Answer{429, "0"};
    if (i % 5 == 0) return Answer{500};
    return Answer{200};
  });
  const auto stats = relay_all(receiver.url("/order"));
  EXPECT_EQ(stats.acknowledged, 120);
  EXPECT_EQ(stats.dead_lettered, 0);
  const auto c = check(messages_of(receiver.accepted()), 120);
  EXPECT_EQ(c.first_missing, 0) << "lost a message";
  EXPECT_EQ(c.distinct, 120u);
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  EXPECT_EQ(c.duplicates, 0u) << "a refused POST is not delivered, so nothing arrives twice";
  EXPECT_GT(receiver.requests(), 120) << "the script refused some requests";
}

TEST_F(WebhookFaults, BatchesKeepOrderThroughServerErrors) {
  put_committed(1, 200, 7);
  std::atomic<int> n{0};
  receiver.set_rule([&](const Request&) { return ++n % 3 == 0 ? Answer{503} : Answer{200}; });
  const auto stats = relay_all(receiver.url("/order?batch=8"));
  EXPECT_EQ(stats.acknowledged, 200);
  const auto c = check(messages_of(receiver.accepted()), 200);
  EXPECT_EQ(c.first_missing, 0);
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
  EXPECT_EQ(c.duplicates, 0u);
}

TEST_F(WebhookFaults, ARefusedMessageIsDeadLetteredAndTheRestDelivered) {
  put_committed(1, 10);
  receiver.set_rule(
      [](const Request& r) { return nlohmann::json::parse(r.body)["position"] == 4 ? Answer{400} : Answer{200}; });
  const auto stats = relay_all(receiver.url("/dlq"), 2);
  EXPECT_EQ(stats.dead_lettered, 1);
  EXPECT_EQ(stats.acknowledged, 9);
  const auto messages = messages_of(receiver.accepted());
  ASSERT_EQ(messages.size(), 9u);
  for (const auto& m : messages) EXPECT_NE(m["position"], 4);
  auto store = outbox::open_store(uri());
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 4);
  EXPECT_NE(dead[0].error.find("HTTP 400"), std::string::npos) << dead[0].error;
}

TEST_F(WebhookFaults, AnswersAreClassified) {
  auto sink = outbox::open_sink(receiver.url("/classes"));
  const std::vector<std::pair<int, outbox::Outcome>> cases = {
      {200, outbox::Outcome::ok},        {204, outbox::Outcome::ok},        {408, outbox::Outcome::retryable},
      {429, outbox::Outcome::retryable}, {500, outbox::Outcome::retryable}, {503, outbox::Outcome::retryable},
      {400, outbox::Outcome::permanent}, {404, outbox::Outcome::permanent}, {413, outbox::Outcome::permanent},
      {301, outbox::Outcome::permanent}};
  std::int64_t position = 1;
  for (const auto& [status, expected] : cases) {
    receiver.script({Answer{status}});
    const auto d = publish_one(*sink, position++);
    EXPECT_EQ(d.outcome, expected) << "HTTP " << status << ": " << d.error;
    if (expected != outbox::Outcome::ok) {
      EXPECT_NE(d.error.find(std::to_string(status)), std::string::npos) << d.error;
    }
  }
}

TEST_F(WebhookFaults, RetryAfterHoldsTheSinkBackAndShowsInHealth) {
  auto sink = outbox::open_sink(receiver.url("/slowdown"));
  receiver.script({Answer{429, "30"}});
  auto d = publish_one(*sink, 1);
  EXPECT_EQ(d.outcome, outbox::Outcome::retryable);
  const int requests = receiver.requests();
  d = publish_one(*sink, 2);
  EXPECT_EQ(d.outcome, outbox::Outcome::retryable) << "sent before Retry-After had passed";
  EXPECT_EQ(receiver.requests(), requests) << "nothing is sent while the receiver asked to wait";
  EXPECT_NE(sink->health().find("Retry-After"), std::string::npos) << sink->health();
}

// The same, with Retry-After as an HTTP-date (RFC 9110) a few seconds ahead.
TEST_F(WebhookFaults, RetryAfterAsAnHttpDateHoldsTheSinkBack) {
  auto sink = outbox::open_sink(receiver.url("/slowdown-date"));
  const std::time_t at = std::time(nullptr) + 30;
  std::tm tm{};
  gmtime_r(&at, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  receiver.script({Answer{503, date}});
  EXPECT_EQ(publish_one(*sink, 1).outcome, outbox::Outcome::retryable);
  const int requests = receiver.requests();
  EXPECT_EQ(publish_one(*sink, 2).outcome, outbox::Outcome::retryable) << "sent before Retry-After had passed";
  EXPECT_EQ(receiver.requests(), requests) << "nothing is sent while the receiver asked to wait (" << date << ")";
  EXPECT_NE(sink->health().find("Retry-After"), std::string::npos) << sink->health();

  // A date in the past holds nothing back.
  auto other = outbox::open_sink(receiver.url("/past-date"));
  receiver.script({Answer{503, "Sun, 06 Nov 1994 08:49:37 GMT"}});
  EXPECT_EQ(publish_one(*other, 3).outcome, outbox::Outcome::retryable);
  EXPECT_EQ(publish_one(*other, 4).outcome, outbox::Outcome::ok) << "a date in the past means now";
}

TEST_F(WebhookFaults, ATimeoutIsRetryable) {
  auto sink = outbox::open_sink(receiver.url("/slow?timeout_ms=200"));
  receiver.script({Answer{200, "", 1500ms}});
  const auto d = publish_one(*sink, 1);
  EXPECT_EQ(d.outcome, outbox::Outcome::retryable) << d.error;
  EXPECT_NE(sink->health(), "ok");
  // The next request is answered in time: the sink recovers on a new connection.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(publish_one(*sink, 2).outcome, outbox::Outcome::ok);
  EXPECT_EQ(sink->health(), "ok");
}

TEST_F(WebhookFaults, AReceiverThatIsDownThenBackGetsEverything) {
  put_committed(1, 100, 7);
  const std::string url = receiver.url("/down");
  receiver.stop();
  std::thread relay([&] { relay_all(url); });
  std::this_thread::sleep_for(700ms);  // the relay meets connection refused a few times
  receiver.restart();
  relay.join();
  const auto c = check(messages_of(receiver.accepted()), 100);
  EXPECT_EQ(c.first_missing, 0) << "lost a message";
  EXPECT_EQ(c.reorders, 0u) << c.first_reorder;
}

TEST_F(WebhookFaults, ConnectionRefusedIsRetryableAndInHealth) {
  const std::string url = receiver.url("/gone");
  receiver.stop();
  auto sink = outbox::open_sink(url);
  const auto d = publish_one(*sink, 1);
  EXPECT_EQ(d.outcome, outbox::Outcome::retryable);
  EXPECT_NE(sink->health(), "ok");
}

TEST_F(WebhookFaults, StopWithinCutsAStalledRequest) {
  auto sink = outbox::open_sink(receiver.url("/stall"));
  receiver.stall();
  outbox::Message m = testing_sqlite::order_created(1, "k");
  m.outbox = "orders";
  m.position = 1;
  std::thread publisher([&] { sink->publish(std::span(&m, 1)); });
  ASSERT_TRUE(receiver.wait_for_requests(1, 10s));
  sink->stop_within(100ms);
  publisher.join();  // would hang for the 10 s default timeout without the cut
  const auto d = sink->poll(1s);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].outcome, outbox::Outcome::retryable) << d[0].error;
  receiver.release();
}

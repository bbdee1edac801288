// The webhook sink against the tests' own receiver: the body, the envelope headers and the
// signature, CloudEvents structured mode, batches, and URIs that are refused.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include "outbox/errors.hpp"
#include "webhook_fixture.hpp"

using namespace testing_webhook;

namespace {

// Computed here with OpenSSL directly, not with the sink's own function, so that a wrong
// signature cannot agree with itself.
std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &n);
  std::string out;
  char two[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(two, sizeof two, "%02x", mac[i]);
    out += two;
  }
  return out;
}

}  // namespace

class WebhookSink : public WebhookTest {};

TEST_F(WebhookSink, PostsEachMessageWithEnvelopeHeadersAndAVerifiableSignature) {
  setenv("OUTBOX_TEST_WEBHOOK_SECRET", "s3cr3t-key", 1);
  put_committed(1, 50);
  const auto stats = relay_all(receiver.url("/hooks/orders?secret_env=OUTBOX_TEST_WEBHOOK_SECRET"));
  EXPECT_EQ(stats.acknowledged, 50);

  const auto requests = receiver.accepted();
  ASSERT_EQ(requests.size(), 50u);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    const std::int64_t position = static_cast<std::int64_t>(i + 1);
    EXPECT_EQ(r.path, "/hooks/orders") << "the query is the sink's, not sent";
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    const auto m = nlohmann::json::parse(r.body);
    EXPECT_EQ(m["position"], position) << "one request at a time, in commit order";
    EXPECT_EQ(m["data"]["ordernr"], position);
    EXPECT_EQ(m["key"], "order-" + std::to_string(position % 5));
    EXPECT_EQ(m["type"], "order_created");
    EXPECT_EQ(r.header("Outbox-id"), m["id"].get<std::string>());
    EXPECT_EQ(r.header("Outbox-type"), "order_created");
    EXPECT_EQ(r.header("Outbox-outbox"), "orders");
    EXPECT_EQ(r.header("Outbox-position"), std::to_string(position));
    EXPECT_EQ(r.header("Outbox-traceparent"), "00-" + std::to_string(position) + "-01");
    EXPECT_EQ(r.header("Outbox-Signature"), "sha256=" + hmac_hex("s3cr3t-key", r.body));
    EXPECT_NE(r.header("Outbox-Signature"), "sha256=" + hmac_hex("another-key", r.body));
  }
}

TEST_F(WebhookSink, NoSignatureWithoutASecret) {
  put_committed(1, 2);
  relay_all(receiver.url());
  const auto requests = receiver.accepted();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("Outbox-Signature"), "");
}

TEST_F(WebhookSink, CloudEventsStructuredMode) {
  put_committed(1, 3);
  relay_all(receiver.url("/ce?format=cloudevents&source=/services/orders"));
  const auto requests = receiver.accepted();
  ASSERT_EQ(requests.size(), 3u);
  const auto& r = requests[0];
  EXPECT_EQ(r.header("Content-Type"), "application/cloudevents+json");
  const auto ce = nlohmann::json::parse(r.body);
  EXPECT_EQ(ce["specversion"], "1.0");
  EXPECT_EQ(ce["type"], "order_created");
  EXPECT_EQ(ce["source"], "/services/orders");
  EXPECT_EQ(ce["id"].get<std::string>().size(), 36u);
  EXPECT_EQ(ce["data"]["ordernr"], 1);
  EXPECT_EQ(ce["partitionkey"], "order-1");
  EXPECT_EQ(r.header("Outbox-id"), "") << "structured mode: the envelope is in the body only";
}

TEST_F(WebhookSink, BatchesArePostedAsJsonArraysInOrder) {
  put_committed(1, 95);
  const auto stats = relay_all(receiver.url("/batch?batch=10"));
  EXPECT_EQ(stats.acknowledged, 95);
  const auto requests = receiver.accepted();
  ASSERT_GE(requests.size(), 10u) << "at most 10 messages a POST";
  for (const auto& r : requests) {
    const auto j = nlohmann::json::parse(r.body);
    ASSERT_TRUE(j.is_array());
    EXPECT_LE(j.size(), 10u);
  }
  const auto messages = messages_of(requests);
  ASSERT_EQ(messages.size(), 95u);
  for (std::size_t i = 0; i < messages.size(); ++i) EXPECT_EQ(messages[i]["position"], static_cast<int>(i + 1));
}

TEST_F(WebhookSink, BadUrisAreUsageErrorsThatSayWhy) {
  auto refused = [](const std::string& uri, const std::string& says) {
    try {
      outbox::open_sink(uri);
      ADD_FAILURE() << "accepted: " << uri;
    } catch (const outbox::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused("http://127.0.0.1:1/x?colour=blue", "colour");
  refused("http://127.0.0.1:1/x?batch=0", "batch");
  refused("http://127.0.0.1:1/x?format=xml", "format");
  refused("http://127.0.0.1:1/x?timeout_ms=-5", "timeout_ms");
  refused("http://127.0.0.1:99999/x", "port");
  refused("http:///x", "host");
  refused("https://127.0.0.1:1/x?insecure=true", "cannot be turned off");
  refused("http://127.0.0.1:1/x?ca_file=/etc/ssl/ca.pem", "https");
  refused("http://127.0.0.1:1/x#frag", "fragment");
  unsetenv("OUTBOX_TEST_NO_SUCH_SECRET");
  refused("http://127.0.0.1:1/x?secret_env=OUTBOX_TEST_NO_SUCH_SECRET", "OUTBOX_TEST_NO_SUCH_SECRET");
  try {
    outbox::open_sink("http://127.0.0.1:1/x", {{"compression", "gzip"}});
    ADD_FAILURE() << "a property was accepted";
  } catch (const outbox::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("compression"), std::string::npos) << e.what();
  }
}

// The URI's query holds the sink's options; the endpoint's own query string goes, percent-encoded,
// in query=..., is sent with every POST, and is not shown (it often carries a token).
TEST_F(WebhookSink, TheEndpointsQueryIsSentButNotShown) {
  put_committed(1, 3);
  const std::string uri = receiver.url("/hooks?query=token%3Dtk-981%26v%3D2&batch=1");
  EXPECT_EQ(outbox::open_sink(uri)->describe().find("tk-981"), std::string::npos) << outbox::open_sink(uri)->describe();
  relay_all(uri);
  const auto requests = receiver.accepted();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.path, "/hooks");
    EXPECT_EQ(r.target, "/hooks?token=tk-981&v=2");
  }
  EXPECT_THROW(outbox::open_sink(receiver.url("/hooks?query=")), outbox::UsageError);
  EXPECT_THROW(outbox::open_sink(receiver.url("/hooks?query=a%20b")), outbox::UsageError);
}

TEST_F(WebhookSink, PasswordsAreRedacted) {
  auto sink = outbox::open_sink("http://alice:hunter2@127.0.0.1:" + std::to_string(receiver.port()) + "/p");
  EXPECT_EQ(sink->describe().find("hunter2"), std::string::npos) << sink->describe();
  EXPECT_NE(sink->describe().find("alice:***@"), std::string::npos) << sink->describe();
  try {
    outbox::open_sink("http://alice:hunter2@127.0.0.1:1/x?nope=1");
    ADD_FAILURE();
  } catch (const outbox::UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

// https:// against a receiver with a self-signed certificate made here with the openssl CLI:
// verification (on by default, and no way to turn it off) refuses it; ca_file naming it accepts.
#include <cstdlib>

#include "webhook_fixture.hpp"

using namespace testing_webhook;
using namespace std::chrono_literals;

class WebhookTls : public WebhookTest {
 protected:
  void SetUp() override {
    WebhookTest::SetUp();
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
        " -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a certificate: " << cmd;
    tls = std::make_unique<Receiver>(cert, key);
  }

  outbox::Delivery publish_one(outbox::Sink& sink) {
    outbox::Message m = testing_sqlite::order_created(1, "k");
    m.outbox = "orders";
    m.position = 1;
    sink.publish(std::span(&m, 1));
    auto d = sink.poll(30s);
    if (d.size() != 1) throw std::runtime_error("expected one outcome");
    return d[0];
  }

  std::string cert, key;
  std::unique_ptr<Receiver> tls;
};

TEST_F(WebhookTls, AnUnknownCertificateIsRefusedRetryably) {
  auto sink = outbox::open_sink(tls->url("/tls"));
  const auto d = publish_one(*sink);
  EXPECT_EQ(d.outcome, outbox::Outcome::retryable) << "a configuration to fix, not a reason to dead-letter";
  EXPECT_NE(d.error.find("ca_file"), std::string::npos) << d.error;
  EXPECT_TRUE(tls->accepted().empty()) << "nothing reached the receiver";
}

TEST_F(WebhookTls, TheGivenCaIsTrusted) {
  put_committed(1, 5);
  const auto stats = relay_all(tls->url("/tls?ca_file=" + cert));
  EXPECT_EQ(stats.acknowledged, 5);
  EXPECT_EQ(tls->accepted().size(), 5u);
}

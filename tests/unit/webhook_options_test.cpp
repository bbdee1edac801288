// Webhook sink URI parsing and the signature, which need no server: every bad input is a
// UsageError that says what is wrong, and the HMAC matches the RFC 4231 test vector.
#include <gtest/gtest.h>

#include <random>

#include "outbox/errors.hpp"
#include "outbox/webhook.hpp"

using namespace outbox;

namespace {

std::string usage_error(const std::string& uri) {
  try {
    webhook::parse_uri(uri);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(WebhookUri, HostPortPathCredentialsAndOptions) {
  const auto o = webhook::parse_uri(
      "https://relay:p%40ss@hooks.example.com:8443/in/orders?format=cloudevents&source=/svc&batch=20"
      "&timeout_ms=2500&secret_env=HOOK_SECRET&ca_file=/etc/ca.pem");
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.host, "hooks.example.com");
  EXPECT_EQ(o.port, 8443);
  EXPECT_EQ(o.path, "/in/orders") << "the query is the sink's, not part of the path";
  EXPECT_EQ(o.user, "relay");
  EXPECT_EQ(o.password, "p@ss");
  EXPECT_TRUE(o.cloudevents);
  EXPECT_EQ(o.cloudevents_source, "/svc");
  EXPECT_EQ(o.batch, 20);
  EXPECT_EQ(o.timeout_ms, 2500);
  EXPECT_EQ(o.secret_env, "HOOK_SECRET");
  EXPECT_TRUE(o.secret.empty()) << "read by make_sink, not by the parser";
  EXPECT_EQ(o.ca_file, "/etc/ca.pem");

  const auto plain = webhook::parse_uri("http://localhost");
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.port, 0) << "the scheme's default";
  EXPECT_EQ(plain.path, "/");
  EXPECT_EQ(plain.batch, 1);
  EXPECT_EQ(webhook::parse_uri("http://[::1]:9000/x").host, "::1");
}

TEST(WebhookUri, BadInputSaysWhatIsWrong) {
  EXPECT_NE(usage_error("http://h/x?retries=3").find("retries"), std::string::npos);
  EXPECT_NE(usage_error("http://h/x?batch=abc").find("batch"), std::string::npos);
  EXPECT_NE(usage_error("http://h:0/x").find("port"), std::string::npos);
  EXPECT_NE(usage_error("http://h:/x").find("port"), std::string::npos);
  EXPECT_NE(usage_error("https://h/x?insecure=true").find("cannot be turned off"), std::string::npos);
  EXPECT_NE(usage_error("http://u@h/x").find("USER:PASSWORD"), std::string::npos);
  EXPECT_NE(usage_error("http://h/a b").find("spaces"), std::string::npos);
  EXPECT_NE(usage_error("ftp://h/x").find("not a webhook"), std::string::npos);
  const std::string e = usage_error("http://u:hunter2@h/x?nope=1");
  EXPECT_NE(e.find("nope"), std::string::npos);
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << "never echoes the password";
}

TEST(WebhookUri, RandomInputNeverCrashes) {
  std::mt19937_64 rng(11);
  const std::string alphabet = "http:s/@?&=%[]#:0123456789abcxyz.-_ ";
  for (int i = 0; i < 5000; ++i) {
    std::string uri = i % 2 ? "http://" : "https://";
    const int n = static_cast<int>(rng() % 40);
    for (int j = 0; j < n; ++j) uri += alphabet[rng() % alphabet.size()];
    try {
      webhook::parse_uri(uri);
    } catch (const UsageError&) {
    }
  }
}

TEST(WebhookSignature, MatchesRfc4231) {
  // RFC 4231, test case 2.
  EXPECT_EQ(webhook::signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"
#include "outbox/sink.hpp"

using namespace outbox;

TEST(RedactUri, HidesPasswords) {
  EXPECT_EQ(redact_uri("postgresql://app:s3cret@db:5432/orders"), "postgresql://app:***@db:5432/orders");
  EXPECT_EQ(redact_uri("mongodb://u:p%40ss@h1,h2/db?replicaSet=rs"), "mongodb://u:***@h1,h2/db?replicaSet=rs");
  EXPECT_EQ(redact_uri("host=db user=app password=s3cret dbname=x"), "host=db user=app password=*** dbname=x");
  EXPECT_EQ(redact_uri("kafka://b:9092/t?sasl.password=pw"), "kafka://b:9092/t?sasl.password=***");
  EXPECT_EQ(redact_uri("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
  // libpq conninfo: spaces around '=', quoted values with spaces and escapes
  EXPECT_EQ(redact_uri("host=db password = 's3 cret' dbname=x"), "host=db password = *** dbname=x");
  EXPECT_EQ(redact_uri(R"(host=db password='it\'s a secret' dbname=x)"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_uri("host=db sslpassword=keypass"), "host=db sslpassword=***");
}

TEST(OpenStore, UnknownSchemeIsAUsageErrorWithoutThePassword) {
  try {
    open_store("postgres-typo://u:hunter2@h/db");
    FAIL();
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
    EXPECT_NE(what.find("supports"), std::string::npos) << what;
  }
}

TEST(OpenSink, KnownAndUnknownSchemes) {
  EXPECT_NE(open_sink("null:"), nullptr);
  EXPECT_NE(open_sink("stdout:"), nullptr);
  EXPECT_THROW(open_sink("carrier-pigeon://x"), UsageError);
}

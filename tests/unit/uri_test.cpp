#include <gtest/gtest.h>

#include "outbox/errors.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"

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

// Found by the uri fuzzer (tests/fuzz/regressions/uri/nul_after_empty_query_item): the C clients
// read a URI up to its first NUL, so "...?sslmode=disable&&<NUL>other" lost its tail, the store
// dropped the empty item libpq refuses, and open_store went on to connect. A URI with a NUL byte
// is refused as written, before anything connects or opens a file.
TEST(OpenStore, AUriWithANulByteIsRefusedBeforeConnecting) {
  using namespace std::string_literals;  // "...\0..."s keeps the NUL and what follows it
  for (const std::string& uri :
       {"postgresql://u:s3cret@127.0.0.1:1/db?sslmode=disable&&\0other"s, "sqlite:/tmp/x.db\0junk"s}) {
    try {
      open_store(uri);
      ADD_FAILURE() << "opened";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("NUL byte"), std::string::npos) << what;
      EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    }
  }
  EXPECT_THROW(open_sink("stdout:\0x"s), UsageError);
}

TEST(OpenSink, KnownAndUnknownSchemes) {
  EXPECT_NE(open_sink("null:"), nullptr);
  EXPECT_NE(open_sink("stdout:"), nullptr);
  EXPECT_THROW(open_sink("carrier-pigeon://x"), UsageError);
}

// issue 10 item 8: a store URI of about 27,000 characters or more crashed every command (SIGSEGV):
// std::regex recursed once per character in redact_uri and in the conninfo detection. Every path
// that parses URIs gets 100,000 characters here; an error is fine, a crash is not.
namespace {
const std::string kLong(100000, 'a');

template <class F>
void survives(const std::string& what, F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
  SUCCEED() << what;
}
}  // namespace

TEST(HugeUris, RedactUriScansInOnePass) {
  const std::string userinfo = "postgresql://" + kLong + ":" + kLong + "@db/x";
  EXPECT_EQ(redact_uri(userinfo), "postgresql://" + kLong + ":***@db/x");
  EXPECT_EQ(redact_uri("host=db password='" + kLong), "host=db password=***");
  EXPECT_EQ(redact_uri("host=db password=" + kLong + " dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_uri(kLong + "=1"), kLong + "=1");
  const std::string no_at = "mongodb://" + kLong + ":" + kLong;
  EXPECT_EQ(redact_uri(no_at), no_at);
}

TEST(HugeUris, OpenStoreAndOpenSinkRefuseThemWithoutCrashing) {
  survives("conninfo", [] { open_store(kLong + "=1"); });
  survives("conninfo with spaces", [] { open_store("  " + kLong + "  = 1"); });
  survives("postgres password", [] { open_store("postgresql://u:" + kLong + "@127.0.0.1:1/db?connect_timeout=1"); });
  survives("postgres host", [] { open_store("postgresql://" + kLong + "/db?connect_timeout=1"); });
  survives("mongodb", [] { open_store("mongodb://u:" + kLong + "@" + kLong + ":notaport/db"); });
  survives("sqlite", [] { open_store("sqlite:/nonexistent/" + kLong); });
  try {
    open_store("nosuchstore://u:" + kLong + "@h/" + kLong);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_LT(what.size(), 1000u) << "the error repeats the whole URI";
    EXPECT_EQ(what.find("aaaa:aaaa"), std::string::npos) << "the password is shown";
  }
  // Kafka URIs are parsed up to the point where a producer would be created.
  survives("kafka sink", [] { open_sink("kafka://" + kLong); });
  survives("kafka sink parameters", [] { open_sink("kafka://h:9092/t?" + kLong + "=1"); });
  survives("file sink", [] { open_sink("file:/nonexistent/" + kLong); });
  survives("unknown sink", [] { open_sink(kLong + "://x"); });
}

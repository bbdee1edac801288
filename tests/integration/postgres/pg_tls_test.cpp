// TLS with sslmode=verify-full against the fixture's server (scripts/postgres/start.sh --tls: a
// throwaway CA signed a certificate for localhost / 127.0.0.1): the store works over it, a wrong CA
// is refused with an error that says so, and no error shows a password from the store URI.
#include <fstream>

#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;

namespace {

// A value from the fixture's STATE/env ("" when absent).
std::string fixture_env(const std::string& name) {
  const char* state = std::getenv("OUTBOX_PG_STATE");
  if (!state) return "";
  std::ifstream in(std::string(state) + "/env");
  const std::string key = "export " + name + "=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  }
  return "";
}

std::string untrusted_ca() {
  const char* state = std::getenv("OUTBOX_PG_STATE");
  return state ? std::string(state) + "/untrusted-ca.crt" : "";
}

}  // namespace

class PgTls : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    ca = fixture_env("OUTBOX_PG_SSLROOTCERT");
    if (ca.empty()) GTEST_SKIP() << "the server was started without --tls (scripts/postgres/start.sh)";
    port = PQport(*a);
  }
  // host=localhost: the name the certificate was made for, checked by verify-full.
  std::string conninfo(const std::string& root_cert) const {
    return "host=localhost port=" + port +
           " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + root_cert;
  }

  std::string ca, port;
};

TEST_F(PgTls, VerifyFullPutAndTail) {
  Conn c(conninfo(ca));
  ASSERT_EQ(PQsslInUse(c), 1);
  EXPECT_EQ(scalar(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
  exec(c, "BEGIN");
  orders->put(c, order_created(1, "k"));
  orders->put(c, order_created(2, "k"));
  exec(c, "COMMIT");

  // The relay side, from a URI and from a conninfo.
  for (const std::string store_uri :
       {conninfo(ca), "postgresql://postgres@localhost:" + port + "/postgres?sslmode=verify-full&sslrootcert=" + ca}) {
    auto store = outbox::open_store(store_uri);
    auto tail = store->tail(name, outbox::Cursor::beginning());
    EXPECT_EQ(ordernrs(drain(*tail, 2)), (std::vector<std::int64_t>{1, 2})) << store_uri;
  }
  // And the CLI.
  const auto r = cli("status --store '" + conninfo(ca) + "' --outbox " + name + " --json");
  EXPECT_EQ(r.code, 0) << r.output;
  ASSERT_NE(r.output.find('['), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('['))).at(0)["count"], 2) << r.output;
}

TEST_F(PgTls, WrongCaIsRefusedWithAClearError) {
  const std::string bad = conninfo(untrusted_ca());
  try {
    outbox::open_store(bad);
    FAIL() << "connected although the server's certificate is not signed by " << untrusted_ca();
  } catch (const outbox::StoreError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to"), std::string::npos) << what;
    EXPECT_NE(what.find("certificate verify failed"), std::string::npos) << what;
    EXPECT_NE(what.find("sslrootcert=" + untrusted_ca()), std::string::npos) << "names the CA it used: " << what;
  }
  const auto r = cli("status --store '" + bad + "'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("certificate verify failed"), std::string::npos) << r.output;

  // A missing root certificate file is an error naming it, not a silent downgrade.
  try {
    outbox::open_store("host=localhost port=" + port +
                       " user=postgres sslmode=verify-full sslrootcert=/nonexistent/ca.crt");
    FAIL() << "connected without the root certificate";
  } catch (const outbox::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.crt"), std::string::npos) << e.what();
  }
}

TEST_F(PgTls, ErrorsNeverShowThePassword) {
  const std::string secret = "Sup3r-secret-pw";
  const std::string host = "localhost:" + port;
  const std::string query = "sslmode=verify-full&sslrootcert=" + untrusted_ca();
  const std::vector<std::string> uris = {
      // TLS refused (wrong CA)
      "postgresql://postgres:" + secret + "@" + host + "/postgres?" + query,
      "postgresql://postgres@" + host + "/postgres?password=" + secret + "&" + query,
      conninfo(untrusted_ca()) + " password=" + secret,
      conninfo(untrusted_ca()) + " password='" + secret + " with spaces'",
      // TLS fine, the server refuses: no such database
      "postgresql://postgres:" + secret + "@" + host + "/no_such_db?sslmode=verify-full&sslrootcert=" + ca,
      "host=localhost port=" + port + " user=postgres password = '" + secret +
          "' dbname=no_such_db sslmode=verify-full sslrootcert=" + ca,
  };
  for (const auto& u : uris) {
    try {
      outbox::open_store(u);
      ADD_FAILURE() << "expected a failure for " << outbox::redact_uri(u);
    } catch (const outbox::Error& e) {
      EXPECT_EQ(std::string(e.what()).find("Sup3r"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("with spaces"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("***"), std::string::npos) << e.what();
    }
    const auto r = cli("status --store \"" + u + "\"");
    EXPECT_NE(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("Sup3r"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("with spaces"), std::string::npos) << r.output;
    const auto relay = cli("relay --store \"" + u + "\" --outbox " + name + " --sink null: --drain");
    EXPECT_NE(relay.code, 0) << relay.output;
    EXPECT_EQ(relay.output.find("Sup3r"), std::string::npos) << relay.output;
  }
}

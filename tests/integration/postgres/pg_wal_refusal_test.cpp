// WAL mode's refusal on a server that cannot host it: the shared test cluster runs with
// wal_level=replica (the WAL mode's own tests, pg_wal_test.cpp, use a second one with logical).
#include "pg_fixture.hpp"

using namespace testing_pg;

namespace {

inline std::string with_mode(const std::string& uri, const std::string& mode) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "outboxMode=" + mode;
}

}  // namespace

TEST_F(PgTest, WalModeInitRefusesAServerWithoutLogicalWal) {
  const std::string replica_uri = uri;  // the shared cluster: wal_level=replica
  Conn c(replica_uri);
  ASSERT_EQ(scalar(c, "SHOW wal_level"), "replica");
  outbox::postgres::OutboxOptions o;
  o.mode = outbox::postgres::Mode::wal;
  outbox::postgres::Outbox wal(name + "_w", order_schemas(), o);
  try {
    wal.init(c);
    FAIL() << "init in WAL mode succeeded on wal_level=replica";
  } catch (const outbox::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("wal_level=logical"), std::string::npos) << e.what();
  }
  EXPECT_EQ(scalar(c,
                   "SELECT to_regclass('outbox__outboxes') IS NULL OR NOT EXISTS (SELECT 1 FROM outbox__outboxes "
                   "WHERE name = '" +
                       name + "_w')"),
            "t");
  const testing_support::Run r = cli("init --store '" + with_mode(replica_uri, "wal") + "' --outbox " + name + "_w");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("wal_level=logical"), std::string::npos) << r.output;
}

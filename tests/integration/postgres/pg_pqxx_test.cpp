// The libpqxx adapter (outbox/pqxx.hpp): put inside a pqxx transaction.
#include "outbox/pqxx.hpp"

#include "pg_fixture.hpp"

using namespace testing_pg;

class PgPqxx : public PgTest {};

TEST_F(PgPqxx, PutCommitsAndRollsBackWithThePqxxTransaction) {
  pqxx::connection conn(uri);
  {
    pqxx::work tx(conn);
    tx.exec("CREATE TABLE IF NOT EXISTS pqxx_biz (nr int)");
    tx.exec("INSERT INTO pqxx_biz VALUES (1)");
    const auto m = outbox::postgres::put(*orders, tx, order_created(1, "order-1"));
    EXPECT_GT(m.position, 0);
    tx.commit();
  }
  {
    pqxx::work tx(conn);
    outbox::postgres::put(*orders, tx, order_created(2, "order-2"));
    // destroyed without commit: pqxx rolls back
  }
  auto store = outbox::open_store(uri);
  auto live = store->tail(name, outbox::Cursor::beginning());
  EXPECT_EQ(ordernrs(drain(*live, 1)), (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(live->next(std::chrono::milliseconds(200)).empty()) << "the rolled-back put must not appear";
}

TEST_F(PgPqxx, SchemaViolationLeavesThePqxxTransactionUsable) {
  pqxx::connection conn(uri);
  pqxx::work tx(conn);
  tx.exec("CREATE TEMP TABLE pqxx_temp (nr int)");
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "seven"}};
  EXPECT_THROW(outbox::postgres::put(*orders, tx, bad), outbox::ValidationError);
  tx.exec("INSERT INTO pqxx_temp VALUES (7)");  // still usable
  outbox::postgres::put(*orders, tx, order_created(7));
  tx.commit();
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM \"outbox_" + name + "\""), "1");
}

TEST_F(PgPqxx, DatabaseErrorsBecomeStoreErrors) {
  pqxx::connection conn(uri);
  pqxx::work tx(conn);
  const outbox::postgres::Outbox missing("no_such_outbox_" + name.substr(0, 20), order_schemas());
  try {
    outbox::postgres::put(missing, tx, order_created(1));
    FAIL() << "expected a StoreError";
  } catch (const outbox::StoreError& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string(e.what()).find("42P01"), std::string::npos) << e.what();  // undefined table
  }
}

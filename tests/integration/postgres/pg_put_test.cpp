// The write side: put in the caller's transaction, validation that leaves it usable, init, errors.
#include "outbox/typed.hpp"
#include "pg_fixture.hpp"

using namespace testing_pg;

class PgPut : public PgTest {};

TEST_F(PgPut, CommitsAndRollsBackWithTheBusinessRows) {
  exec(*a, "CREATE TEMP TABLE orders_biz (nr int)");
  exec(*a, "BEGIN");
  exec(*a, "INSERT INTO orders_biz VALUES (1)");
  const auto m = orders->put(*a, order_created(1, "order-1"));
  EXPECT_GT(m.position, 0);
  EXPECT_FALSE(m.id.empty());
  exec(*a, "COMMIT");
  exec(*a, "BEGIN");
  exec(*a, "INSERT INTO orders_biz VALUES (2)");
  orders->put(*a, order_created(2, "order-2"));
  exec(*a, "ROLLBACK");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM orders_biz"), "1");
  EXPECT_EQ(scalar(*a, "SELECT string_agg(data, ',') FROM \"outbox_" + name + "\""), "{\"ordernr\":1}");
  // The row carries the writing transaction's id.
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM \"outbox_" + name + "\" WHERE xid IS NOT NULL"), "1");
}

TEST_F(PgPut, RequiresAnOpenTransaction) {
  EXPECT_THROW(orders->put(*a, order_created(1)), outbox::UsageError);
  exec(*a, "BEGIN");
  EXPECT_THROW(exec(*a, "SELECT 1/0"), std::runtime_error);
  EXPECT_THROW(orders->put(*a, order_created(1)), outbox::UsageError) << "the transaction has failed";
  exec(*a, "ROLLBACK");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM \"outbox_" + name + "\""), "0");
}

TEST_F(PgPut, SchemaViolationLeavesTheTransactionUsable) {
  exec(*a, "CREATE TEMP TABLE orders_biz (nr int)");
  exec(*a, "BEGIN");
  exec(*a, "INSERT INTO orders_biz VALUES (7)");
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "seven"}};
  try {
    orders->put(*a, bad);
    FAIL() << "expected ValidationError";
  } catch (const outbox::ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/data/ordernr");
    EXPECT_EQ(e.rule(), "type");
  }
  outbox::Message unknown;
  unknown.type = "refund";
  EXPECT_THROW(orders->put(*a, unknown), outbox::ValidationError);
  EXPECT_EQ(PQtransactionStatus(*a), PQTRANS_INTRANS);
  orders->put(*a, order_created(7, "order-7"));
  exec(*a, "COMMIT");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM orders_biz"), "1");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM \"outbox_" + name + "\""), "1");
}

TEST_F(PgPut, InitIsIdempotentAndPrintable) {
  orders->init(*a);
  orders->init(*a);
  const std::string sql = orders->init_sql();
  EXPECT_NE(sql.find("CREATE TABLE IF NOT EXISTS \"outbox_" + name + "\""), std::string::npos);
  EXPECT_NE(sql.find("xid8"), std::string::npos);
  // The printed SQL is what init runs: applying it again by hand works too.
  exec(*a, sql);
  exec(*a, "BEGIN");
  EXPECT_THROW(orders->init(*a), outbox::UsageError);
  exec(*a, "ROLLBACK");
  EXPECT_THROW(outbox::postgres::Outbox("Bad-Name", order_schemas()), outbox::UsageError);
  EXPECT_THROW(outbox::postgres::Outbox(std::string(51, 'a'), order_schemas()), outbox::UsageError);
}

TEST_F(PgPut, APasswordNeverAppearsInErrors) {
  for (const std::string bad :
       {"postgresql://postgres:hunter2@127.0.0.1:1/postgres", "host=127.0.0.1 port=1 user=postgres password=hunter2"}) {
    try {
      outbox::open_store(bad);
      FAIL() << "expected a connection failure";
    } catch (const outbox::StoreError& e) {
      EXPECT_TRUE(e.retryable());
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("***"), std::string::npos) << e.what();
    }
  }
}

TEST_F(PgPut, StoreOpensFromUriAndConninfo) {
  auto s1 = outbox::open_store(uri);
  const auto names = s1->outboxes();
  EXPECT_NE(std::find(names.begin(), names.end(), name), names.end());
  const std::string port = PQport(*a);
  auto s2 = outbox::open_store("host=127.0.0.1 port=" + port + " user=postgres dbname=postgres");
  outbox::Message m = order_created(3, "k");
  m.outbox = name;
  const auto written = s2->put(order_schemas(), m);
  EXPECT_GT(written.position, 0);
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM \"outbox_" + name + "\""), "1");
  EXPECT_THROW(outbox::open_store("postgresql://[bad"), outbox::UsageError);
}

// put's statement is prepared once per connection. A pooler's DISCARD ALL (or DEALLOCATE) drops
// it behind the library's back: that put fails retryably, and the retried transaction prepares
// it again. PQreset opens a new session, where it is prepared again without any failure.
TEST_F(PgPut, PreparedStatementSurvivesDiscardAndReset) {
  exec(*a, "BEGIN");
  orders->put(*a, order_created(1, "k"));
  exec(*a, "COMMIT");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'obx_put_%'"), "1");

  exec(*a, "DISCARD ALL");
  exec(*a, "BEGIN");
  try {
    orders->put(*a, order_created(2, "k"));
    FAIL() << "the statement was discarded; expected a StoreError";
  } catch (const outbox::StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("26000"), std::string::npos) << e.what();
  }
  exec(*a, "ROLLBACK");
  exec(*a, "BEGIN");
  orders->put(*a, order_created(2, "k"));  // the retry prepares it again
  exec(*a, "COMMIT");

  PQreset(*a);
  ASSERT_EQ(PQstatus(*a), CONNECTION_OK);
  exec(*a, "BEGIN");
  orders->put(*a, order_created(3, "k"));
  exec(*a, "COMMIT");
  EXPECT_EQ(scalar(*a, "SELECT string_agg(data, ',' ORDER BY position) FROM \"outbox_" + name + "\""),
            "{\"ordernr\":1},{\"ordernr\":2},{\"ordernr\":3}");
}

namespace pg_typed {
struct OrderCreated {
  std::int64_t ordernr = 0;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr)
}  // namespace pg_typed

// The same Outbox shape as every store: a Writer bound to the connection is what MessageSet::put
// takes (code written against typed messages works with any store).
TEST_F(PgPut, TypedMessagesGoThroughAWriter) {
  using Events = outbox::MessageSet<pg_typed::OrderCreated>;
  auto writer = orders->writer(*a);
  exec(*a, "BEGIN");
  const auto m = Events::put(writer, pg_typed::OrderCreated{7}, "order-7");
  exec(*a, "COMMIT");
  EXPECT_GT(m.position, 0);
  EXPECT_EQ(scalar(*a, "SELECT data FROM \"outbox_" + name + "\""), "{\"ordernr\":7}");
  EXPECT_EQ(scalar(*a, "SELECT key FROM \"outbox_" + name + "\""), "order-7");
}

// put() inside the caller's transaction: atomic with the business rows, and harmless when it fails.
#include "sqlite_fixture.hpp"

#include "outbox/errors.hpp"

using namespace testing_sqlite;
using outbox::Message;

class SqlitePut : public SqliteTest {};

TEST_F(SqlitePut, CommitsWithTheBusinessRows) {
  exec(db, "BEGIN");
  exec(db, "INSERT INTO orders VALUES (1, 'new')");
  const Message m = orders.put(db, order_created(1, "order-1"));
  exec(db, "COMMIT");
  EXPECT_EQ(m.position, 1);
  EXPECT_EQ(m.id.size(), 36u);
  EXPECT_EQ(m.outbox, "orders");
  EXPECT_NE(m.created.time_since_epoch().count(), 0);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 1);
}

TEST_F(SqlitePut, RollsBackWithTheBusinessRows) {
  exec(db, "BEGIN");
  exec(db, "INSERT INTO orders VALUES (1, 'new')");
  orders.put(db, order_created(1));
  exec(db, "ROLLBACK");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM orders"), 0);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 0);
}

TEST_F(SqlitePut, RefusesToRunOutsideATransaction) {
  EXPECT_THROW(orders.put(db, order_created(1)), outbox::UsageError);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 0);
}

TEST_F(SqlitePut, RejectedMessageWritesNothingAndLeavesTheTransactionUsable) {
  auto writer = orders.writer(db);
  exec(db, "BEGIN");
  exec(db, "INSERT INTO orders VALUES (1, 'new')");
  Message bad = order_created(1);
  bad.data = {{"ordernr", "one"}};
  EXPECT_THROW(writer.put(bad), outbox::ValidationError);
  Message unknown = order_created(1);
  unknown.type = "order_exploded";
  EXPECT_THROW(writer.put(unknown), outbox::ValidationError);
  Message nul = order_created(1, std::string("k\0y", 3));
  EXPECT_THROW(writer.put(nul), outbox::ValidationError);
  EXPECT_FALSE(sqlite3_get_autocommit(db)) << "the caller's transaction must still be open";
  writer.put(order_created(1));
  exec(db, "INSERT INTO orders VALUES (2, 'new')");
  exec(db, "COMMIT");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM orders"), 2);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 1);
}

TEST_F(SqlitePut, WriterReusesItsStatementAcrossTransactions) {
  auto writer = orders.writer(db);
  std::int64_t committed = 0;
  for (int i = 1; i <= 100; ++i) {
    exec(db, "BEGIN");
    // A rolled-back insert gives its position back (nobody could have seen it).
    EXPECT_EQ(writer.put(order_created(i)).position, committed + 1);
    const bool commit = i % 2;
    exec(db, commit ? "COMMIT" : "ROLLBACK");
    committed += commit;
  }
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 50);
}

TEST_F(SqlitePut, InitIsIdempotentAndTurnsOnWal) {
  EXPECT_NO_THROW(orders.init(db));
  EXPECT_NO_THROW(orders.init(db));
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
}

// Positions are rowids (max + 1): deleting older rows, as retention does, never gives one back.
// (Retention keeps the newest row for this; SqliteLayout.* and the conformance suite test it.)
TEST_F(SqlitePut, PositionsAreNeverReusedAfterDeletingOlderRows) {
  exec(db, "BEGIN");
  for (int i = 1; i <= 3; ++i) orders.put(db, order_created(i));
  exec(db, "COMMIT");
  exec(db, "DELETE FROM outbox_orders WHERE position <= 2");
  exec(db, "BEGIN");
  const auto m = orders.put(db, order_created(4));
  exec(db, "COMMIT");
  EXPECT_EQ(m.position, 4) << "a reused position would be skipped by a consumer that already passed it";
}

TEST_F(SqlitePut, KeepsHeadersKeyAndCallerAssignedIds) {
  Message m = order_created(9, "order-9");
  m.id = "0190a3c4-0000-7000-8000-00000000abcd";
  m.headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  exec(db, "BEGIN");
  orders.put(db, m);
  exec(db, "COMMIT");
  auto store = outbox::open_store(uri());
  auto tail = store->tail("orders", outbox::Cursor::beginning());
  const auto batch = tail->next(std::chrono::milliseconds(0));
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].id, m.id);
  EXPECT_EQ(batch[0].key, "order-9");
  EXPECT_EQ(batch[0].headers, m.headers);
  EXPECT_EQ(batch[0].data, m.data);
}

TEST_F(SqlitePut, WrongOutboxNameIsRejected) {
  EXPECT_THROW(outbox::sqlite::Outbox("Orders; DROP TABLE orders", order_schemas()), outbox::UsageError);
  Message m = order_created(1);
  m.outbox = "payments";
  exec(db, "BEGIN");
  EXPECT_THROW(orders.put(db, m), outbox::UsageError);
  exec(db, "ROLLBACK");
}

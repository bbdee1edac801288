// The outbox table's layout: new outboxes use plain rowid positions (no AUTOINCREMENT, one page
// less per commit), and outboxes made by earlier versions (with AUTOINCREMENT) keep working.
#include "sqlite_fixture.hpp"

#include "outbox/store.hpp"

using namespace testing_sqlite;

namespace {

std::int64_t newest_position(sqlite3* db) { return count(db, "SELECT MAX(position) FROM outbox_orders"); }

void put_orders(sqlite3* db, outbox::sqlite::Outbox& orders, int from, int to) {
  exec(db, "BEGIN");
  for (int i = from; i <= to; ++i) orders.put(db, order_created(i));
  exec(db, "COMMIT");
}

}  // namespace

class SqliteLayout : public SqliteTest {};

// The page this saves: AUTOINCREMENT writes the table's sqlite_sequence row on every insert.
TEST_F(SqliteLayout, NewOutboxesHaveNoAutoincrement) {
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'outbox_orders' AND sql LIKE '%AUTOINCREMENT%'"),
            0);
  put_orders(db, orders, 1, 3);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'outbox_orders'"), 0);
}

// Retention keeps the newest message whatever the policy says: without it, SQLite would hand
// the newest position out again (max(rowid) + 1).
TEST_F(SqliteLayout, RetentionKeepsTheNewestMessageSoPositionsNeverRepeat) {
  put_orders(db, orders, 1, 5);
  auto store = outbox::open_store(uri());
  store->acquire({"orders", "c", "relay"}, std::chrono::seconds(30));
  store->save_checkpoint({"orders", "c", "relay"}, "5", std::chrono::seconds(30), "ok");
  outbox::RetentionPolicy everything;
  everything.max_count = 0;
  everything.max_age = std::chrono::seconds(0);
  everything.hard_max_count = 0;
  EXPECT_EQ(store->enforce_retention("orders", everything).deleted, 4);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 1);
  EXPECT_EQ(newest_position(db), 5);
  EXPECT_EQ(store->checkpoint_at_end("orders"), "5");
  put_orders(db, orders, 6, 6);
  EXPECT_EQ(newest_position(db), 6);
}

// An outbox table created by an earlier version has AUTOINCREMENT; its sqlite_sequence row may
// hold a position whose row that version's retention deleted. The end of the outbox is still past
// it, and new messages still get later positions.
TEST_F(SqliteLayout, AnOutboxMadeWithAutoincrementKeepsItsPositions) {
  exec(db,
       "CREATE TABLE outbox_legacy (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
       " type TEXT NOT NULL, key TEXT, data TEXT NOT NULL, headers TEXT, created_us INTEGER NOT NULL)");
  outbox::sqlite::Outbox legacy{"legacy", order_schemas()};
  legacy.init(db);  // creates only what is missing: the table keeps its layout
  exec(db, "BEGIN");
  for (int i = 1; i <= 3; ++i) legacy.put(db, order_created(i));
  exec(db, "COMMIT");
  exec(db, "DELETE FROM outbox_legacy");  // what retention did before it kept the newest
  auto store = outbox::open_store(uri());
  EXPECT_EQ(store->checkpoint_at_end("legacy"), "3");
  exec(db, "BEGIN");
  EXPECT_EQ(legacy.put(db, order_created(4)).position, 4);
  exec(db, "COMMIT");
}

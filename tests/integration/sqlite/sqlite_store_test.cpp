// Checkpoints, leases, seek, dead letters, retention and status on a real SQLite database.
#include "sqlite_fixture.hpp"

#include "outbox/errors.hpp"

using namespace testing_sqlite;
using namespace std::chrono_literals;

class SqliteStore : public SqliteTest {
 protected:
  void put_committed(int n) {
    exec(db, "BEGIN");
    for (int i = 0; i < n; ++i) orders.put(db, order_created(i + 1));
    exec(db, "COMMIT");
  }
  std::unique_ptr<outbox::Store> store = nullptr;
  void SetUp() override {
    SqliteTest::SetUp();
    store = outbox::open_store(uri());
  }
  void TearDown() override {
    store.reset();
    SqliteTest::TearDown();
  }
};

TEST_F(SqliteStore, CheckpointsPersistAndLeasesExcludeOtherRelays) {
  EXPECT_FALSE(store->acquire("orders", "kafka", "relay-a", 30s).has_value()) << "a new consumer has no checkpoint";
  store->save_checkpoint("orders", "kafka", "relay-a", "5", 30s, "ok");
  EXPECT_THROW(store->acquire("orders", "kafka", "relay-b", 30s), outbox::LeaseLost);
  EXPECT_THROW(store->save_checkpoint("orders", "kafka", "relay-b", "9", 30s, "ok"), outbox::LeaseLost);
  EXPECT_THROW(store->seek("orders", "kafka", "0"), outbox::UsageError) << "seek must refuse while a relay runs";
  store->release("orders", "kafka", "relay-a");
  auto reopened = outbox::open_store(uri());
  EXPECT_EQ(reopened->acquire("orders", "kafka", "relay-b", 30s), "5");
  EXPECT_THROW(store->save_checkpoint("orders", "kafka", "relay-a", "6", 30s, "ok"), outbox::LeaseLost)
      << "the old owner must not write after a takeover";
}

TEST_F(SqliteStore, AnExpiredLeaseCanBeTakenOver) {
  store->acquire("orders", "c", "crashed-relay", 1s);
  std::this_thread::sleep_for(1100ms);
  EXPECT_NO_THROW(store->acquire("orders", "c", "new-relay", 30s));
}

TEST_F(SqliteStore, SeekMovesACheckpointForReplay) {
  put_committed(10);
  store->seek("orders", "c", store->checkpoint_before(4));
  EXPECT_EQ(store->acquire("orders", "c", "r", 30s), "3");
  store->release("orders", "c", "r");
  store->seek("orders", "c", store->checkpoint_at_end("orders"));
  EXPECT_EQ(store->acquire("orders", "c", "r", 30s), "10");
  EXPECT_THROW(store->seek("orders", "c", "minus one"), outbox::UsageError);
  EXPECT_THROW(store->seek("orders", "Bad Name", "1"), outbox::UsageError);
}

TEST_F(SqliteStore, DeadLettersKeepTheMessageAndTheError) {
  put_committed(1);
  auto m = store->tail("orders", outbox::Cursor::beginning())->next(0ms).at(0);
  store->dead_letter("kafka", m, "MSG_SIZE_TOO_LARGE", 5);
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.id, m.id);
  EXPECT_EQ(dead[0].message.data, m.data);
  EXPECT_EQ(dead[0].error, "MSG_SIZE_TOO_LARGE");
  EXPECT_EQ(dead[0].attempts, 5);
  EXPECT_EQ(store->status("orders").dead_letters, 1);
}

TEST_F(SqliteStore, RetentionNeverDeletesWhatAConsumerHasNotPassed) {
  put_committed(100);
  store->acquire("orders", "slow", "r", 30s);
  store->save_checkpoint("orders", "slow", "r", "30", 30s, "ok");
  outbox::RetentionPolicy p;
  p.max_count = 10;
  p.batch_size = 7;  // several DELETE batches
  const auto r = store->enforce_retention("orders", p);
  EXPECT_EQ(r.deleted, 30);
  EXPECT_EQ(r.dropped_unpublished, 0);
  EXPECT_EQ(count(db, "SELECT MIN(position) FROM outbox_orders"), 31);
  store->save_checkpoint("orders", "slow", "r", "100", 30s, "ok");
  EXPECT_EQ(store->enforce_retention("orders", p).deleted, 60);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 10);
}

TEST_F(SqliteStore, RetentionByAge) {
  put_committed(5);
  exec(db, "UPDATE outbox_orders SET created_us = created_us - 3600000000 WHERE position <= 3");
  outbox::RetentionPolicy p;
  p.max_age = std::chrono::seconds(60);
  EXPECT_EQ(store->enforce_retention("orders", p).deleted, 3) << "no consumer registered: age alone decides";
}

TEST_F(SqliteStore, HardLimitDropsUnpublishedMessagesAndCountsThem) {
  put_committed(50);
  store->acquire("orders", "stuck", "r", 30s);  // checkpoint 0
  outbox::RetentionPolicy p;
  p.max_count = 10;
  p.hard_max_count = 20;
  const auto r = store->enforce_retention("orders", p);
  EXPECT_EQ(r.deleted, 30);
  EXPECT_EQ(r.dropped_unpublished, 30);
  EXPECT_EQ(store->status("orders").dropped, 30);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 20);
}

TEST_F(SqliteStore, StatusReportsCountsPositionsAndLag) {
  put_committed(8);
  store->acquire("orders", "a", "relay-a", 30s);
  store->save_checkpoint("orders", "a", "relay-a", "5", 30s, "ok");
  const auto s = store->status("orders");
  EXPECT_EQ(s.count, 8);
  EXPECT_EQ(s.oldest_position, 1);
  EXPECT_EQ(s.newest_position, 8);
  ASSERT_TRUE(s.oldest_created && s.newest_created);
  ASSERT_EQ(s.consumers.size(), 1u);
  EXPECT_EQ(s.consumers[0].name, "a");
  EXPECT_EQ(s.consumers[0].position, 5);
  EXPECT_EQ(s.consumers[0].lag_messages, 3);
  EXPECT_GE(s.consumers[0].lag_seconds, 0.0);
  EXPECT_TRUE(s.consumers[0].lease_active);
  EXPECT_EQ(s.consumers[0].owner, "relay-a");
  EXPECT_EQ(store->outboxes(), std::vector<std::string>{"orders"});
}

TEST_F(SqliteStore, StorePutUsesItsOwnTransaction) {
  auto registry = order_schemas();
  auto m = order_created(1);
  m.outbox = "orders";
  EXPECT_EQ(store->put(registry, m).position, 1);
  m.data = {{"ordernr", "x"}};
  EXPECT_THROW(store->put(registry, m), outbox::ValidationError);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 1);
}

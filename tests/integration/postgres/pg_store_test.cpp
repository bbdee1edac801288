// The relay side of the store: leases, checkpoints, seek, dead letters, status and retention.
#include <thread>

#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;

class PgStore : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    store = outbox::open_store(uri);
  }
  void put_committed(int from, int to) {
    exec(*a, "BEGIN");
    for (int i = from; i <= to; ++i) orders->put(*a, order_created(i, "order-" + std::to_string(i % 3)));
    exec(*a, "COMMIT");
  }
  std::vector<outbox::Message> read_all() {
    auto t = store->tail(name, outbox::Cursor::beginning());
    std::vector<outbox::Message> out;
    for (;;) {
      auto b = t->next(200ms);
      if (b.empty()) return out;
      for (auto& m : b) out.push_back(std::move(m));
    }
  }
  std::unique_ptr<outbox::Store> store;
};

TEST_F(PgStore, LeasesAreExclusiveUntilReleasedOrExpired) {
  EXPECT_FALSE(store->acquire(name, "c", "relay-a", 30s).has_value()) << "a new consumer has no checkpoint";
  EXPECT_THROW(store->acquire(name, "c", "relay-b", 30s), outbox::LeaseLost);
  put_committed(1, 2);
  const auto ms = read_all();
  store->save_checkpoint(name, "c", "relay-a", ms[0].checkpoint, 30s, "ok");
  EXPECT_THROW(store->save_checkpoint(name, "c", "relay-b", ms[1].checkpoint, 30s, "ok"), outbox::LeaseLost);
  EXPECT_THROW(store->seek(name, "c", store->checkpoint_before(1)), outbox::UsageError) << "leased";
  EXPECT_EQ(store->acquire(name, "c", "relay-a", 30s).value_or(""), ms[0].checkpoint) << "renewal by the owner";
  store->release(name, "c", "relay-a");
  EXPECT_EQ(store->acquire(name, "c", "relay-b", 1s).value_or(""), ms[0].checkpoint);
  std::this_thread::sleep_for(1100ms);
  EXPECT_NO_THROW(store->acquire(name, "c", "relay-c", 30s)) << "an expired lease can be taken over";
  EXPECT_THROW(store->save_checkpoint(name, "c", "relay-b", ms[1].checkpoint, 30s, "ok"), outbox::LeaseLost);
  store->release(name, "c", "relay-c");
  store->seek(name, "c", store->checkpoint_before(1));
  EXPECT_EQ(store->acquire(name, "c", "relay-a", 30s).value_or(""), store->checkpoint_before(1));
  EXPECT_THROW(store->save_checkpoint(name, "c", "relay-a", "not-a-checkpoint", 30s, "ok"), outbox::UsageError);
}

TEST_F(PgStore, StatusCountsLagFromTheCheckpoint) {
  put_committed(1, 5);
  const auto ms = read_all();
  ASSERT_EQ(ms.size(), 5u);
  store->acquire(name, "c", "relay-a", 30s);
  store->save_checkpoint(name, "c", "relay-a", ms[1].checkpoint, 30s, "ok");
  // An open transaction's row is not counted as committed lag... until it commits.
  Conn b(uri);
  exec(b, "BEGIN");
  orders->put(b, order_created(6));
  auto st = store->status(name);
  EXPECT_EQ(st.count, 5);
  EXPECT_EQ(st.oldest_position, ms[0].position);
  EXPECT_EQ(st.newest_position, ms[4].position);
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].lag_messages, 3);
  EXPECT_EQ(st.consumers[0].position, ms[1].position);
  EXPECT_TRUE(st.consumers[0].lease_active);
  EXPECT_EQ(st.consumers[0].owner, "relay-a");
  EXPECT_GE(st.consumers[0].lag_seconds, 0.0);
  exec(b, "COMMIT");
  EXPECT_EQ(store->status(name).consumers[0].lag_messages, 4);
}

TEST_F(PgStore, DeadLettersRoundTrip) {
  put_committed(1, 1);
  const auto m = read_all().at(0);
  store->dead_letter("c", m, "refused by broker", 5);
  const auto dead = store->dead_letters(name, 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.id, m.id);
  EXPECT_EQ(dead[0].message.position, m.position);
  EXPECT_EQ(dead[0].error, "refused by broker");
  EXPECT_EQ(dead[0].attempts, 5);
  EXPECT_EQ(store->status(name).dead_letters, 1);
}

TEST_F(PgStore, RetentionDeletesOnlyWhatEveryConsumerPassed) {
  put_committed(1, 50);
  const auto ms = read_all();
  store->acquire(name, "fast", "r1", 30s);
  store->save_checkpoint(name, "fast", "r1", ms[39].checkpoint, 30s, "ok");
  store->acquire(name, "slow", "r2", 30s);
  store->save_checkpoint(name, "slow", "r2", ms[19].checkpoint, 30s, "ok");
  outbox::RetentionPolicy p;
  p.max_count = 5;
  p.batch_size = 7;
  EXPECT_EQ(store->enforce_retention(name, p).deleted, 20) << "the slow consumer has passed 20";
  EXPECT_EQ(store->status(name).count, 30);
  EXPECT_EQ(ordernrs(read_all()).front(), 21);
  store->save_checkpoint(name, "slow", "r2", ms[49].checkpoint, 30s, "ok");
  EXPECT_EQ(store->enforce_retention(name, p).deleted, 20) << "now bounded by the fast one (40)";
  EXPECT_EQ(store->status(name).count, 10);
  // Hard cap: drops unpublished messages too, and counts them.
  outbox::RetentionPolicy hard;
  hard.hard_max_count = 3;
  const auto r = store->enforce_retention(name, hard);
  EXPECT_EQ(r.deleted, 7);
  EXPECT_EQ(r.dropped_unpublished, 7);  // positions 41..47 had not been passed by "fast"
  EXPECT_EQ(store->status(name).dropped, 7);
}

TEST_F(PgStore, RetentionIsSkippedWhileAnotherRelayRunsIt) {
  put_committed(1, 10);
  outbox::RetentionPolicy p;
  p.max_count = 1;
  Conn other(uri);
  // Hold the retention lock of this outbox from another session, as a concurrent relay would.
  std::uint64_t h = 14695981039346656037ull;
  for (const std::string part : {std::string("retention"), name}) {
    for (unsigned char ch : part) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  }
  exec(other, "SELECT pg_advisory_lock(" + std::to_string(static_cast<std::int64_t>(h)) + ")");
  EXPECT_EQ(store->enforce_retention(name, p).deleted, 0);
  EXPECT_EQ(store->status(name).count, 10);
  exec(other, "SELECT pg_advisory_unlock_all()");
  EXPECT_EQ(store->enforce_retention(name, p).deleted, 9);
}

// The connection dies while COMMIT is in flight (a deferred trigger makes the server end its own
// session at commit time): Store::put reports CommitInDoubt, not a plain error, and the store
// reconnects for the next call.
TEST_F(PgStore, ConnectionLostDuringCommitIsCommitInDoubt) {
  const std::string t = "\"outbox_" + name + "\"";
  exec(*a, "CREATE OR REPLACE FUNCTION " + name + "_die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF NEW.type = 'order_completed' THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
           "PERFORM pg_sleep(5); END IF; RETURN NULL; END $$");
  exec(*a, "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON " + t +
           " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + name + "_die()");
  outbox::Message m = order_created(1);
  m.outbox = name;
  m.type = "order_completed";
  EXPECT_THROW(store->put(order_schemas(), m), outbox::CommitInDoubt);
  m.type = "order_created";
  m.id.clear();
  EXPECT_GT(store->put(order_schemas(), m).position, 0) << "the store reconnects";
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM " + t), "1") << "this time the server had not committed";
}

// What only the PostgreSQL store does on the relay side: one relay at a time runs retention, and a
// connection lost during COMMIT is CommitInDoubt. Leases, checkpoints, seek, dead letters, status,
// lag and retention are checked by the store conformance suite (tests/integration/conformance), the
// same way as every other store.
#include "pg_fixture.hpp"

using namespace testing_pg;

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
  std::unique_ptr<outbox::Store> store;
};

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
  exec(*a, "CREATE OR REPLACE FUNCTION " + name +
               "_die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
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

// Wake-ups without a NOTIFY per commit (see WakeLock in src/store/postgres/tables.hpp): an idle
// tail sleeps holding an advisory lock; a put notifies only while it is held, and an open
// transaction that has put a message keeps every tail from falling asleep. Each test gives the
// tail a re-check interval far longer than its wait, so a missed wake-up shows up as a message
// not delivered.
#include <future>
#include <thread>

#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;

namespace {

constexpr const char* kWakeLockClass = "1868724343";  // 0x6f627877, "obxw"

class PgWakeup : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    observer = std::make_unique<Conn>(uri);
    objid = wake_lock_objid();
  }

  std::unique_ptr<outbox::Tail> sleepy_tail(outbox::Store& s) {
    outbox::TailOptions o;
    o.recheck_interval = 60s;  // longer than any wait below: only a wake-up can deliver in time
    return s.tail(name, outbox::Cursor::end(), o);
  }

  // The second half of the wake lock's key, read off the shared lock a put takes.
  std::string wake_lock_objid() {
    Conn w(uri);
    exec(w, "BEGIN");
    orders->put(w, order_created(0));
    const std::string id =
        scalar(*observer,
               "SELECT coalesce(max(objid)::text, '') FROM pg_locks WHERE locktype = "
               "'advisory' AND classid = " +
                   std::string(kWakeLockClass) +
                   " AND objsubid = 2 AND mode = 'ShareLock' AND pid = " + std::to_string(PQbackendPID(w)));
    exec(w, "ROLLBACK");
    if (id.empty()) throw std::runtime_error("a put took no shared wake lock");
    return id;
  }

  // The backend of the tail asleep on this outbox, or 0.
  int sleeper() {
    return std::stoi(scalar(*observer,
                            "SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND "
                            "classid = " +
                                std::string(kWakeLockClass) + " AND objid = " + objid +
                                " AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted"));
  }

  int wait_for_sleeper(int other_than = 0) {
    for (int i = 0; i < 1000; ++i) {
      const int pid = sleeper();
      if (pid != 0 && pid != other_than) return pid;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }

  // Notifications the observer received on the outbox's channel.
  int notifications() {
    std::this_thread::sleep_for(200ms);  // delivery to another session is asynchronous
    PQconsumeInput(*observer);
    int n = 0;
    while (PGnotify* note = PQnotifies(*observer)) {
      ++n;
      PQfreemem(note);
    }
    return n;
  }

  void commit_one(std::int64_t nr, const outbox::postgres::Outbox& box) {
    exec(*a, "BEGIN");
    box.put(*a, order_created(nr));
    exec(*a, "COMMIT");
  }

  std::unique_ptr<Conn> observer;
  std::string objid;
};

std::future<std::vector<outbox::Message>> next_async(outbox::Tail& t, std::chrono::milliseconds wait) {
  return std::async(std::launch::async, [&t, wait] { return t.next(wait); });
}

}  // namespace

TEST_F(PgWakeup, SleepingTailIsWokenByACommit) {
  auto store = outbox::open_store(uri);
  auto live = sleepy_tail(*store);
  auto got = next_async(*live, 20s);
  ASSERT_NE(wait_for_sleeper(), 0) << "the idle tail should sleep holding the wake lock";
  commit_one(1, *orders);
  const auto batch = got.get();
  EXPECT_EQ(ordernrs(batch), (std::vector<std::int64_t>{1}));
}

TEST_F(PgWakeup, PutNotifiesOnlyWhileATailSleeps) {
  exec(*observer, "LISTEN " + std::string("\"outbox_") + name + "\"");
  commit_one(1, *orders);
  EXPECT_EQ(notifications(), 0) << "no tail asleep: a put must not NOTIFY (it would cost writers a cluster-wide lock)";

  auto store = outbox::open_store(uri);
  auto live = sleepy_tail(*store);
  auto got = next_async(*live, 20s);
  ASSERT_NE(wait_for_sleeper(), 0);
  commit_one(2, *orders);
  EXPECT_EQ(ordernrs(got.get()), (std::vector<std::int64_t>{2}));
  EXPECT_GE(notifications(), 1) << "a tail was asleep: the put must NOTIFY";
}

// The race the lock closes: a transaction puts, the tail finds nothing committed and would fall
// asleep, then the transaction commits. Its put found no sleeper, so it will not NOTIFY; the tail
// must therefore not sleep while that transaction is open.
TEST_F(PgWakeup, OpenTransactionWithAPutKeepsTailsAwake) {
  auto store = outbox::open_store(uri);
  auto live = sleepy_tail(*store);
  exec(*a, "BEGIN");
  orders->put(*a, order_created(1));
  auto got = next_async(*live, 20s);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(sleeper(), 0) << "the tail fell asleep while a transaction with a put was open";
    std::this_thread::sleep_for(10ms);
  }
  exec(*a, "COMMIT");
  EXPECT_EQ(ordernrs(got.get()), (std::vector<std::int64_t>{1}));
}

TEST_F(PgWakeup, TailListensAgainAfterItsSessionIsKilled) {
  auto store = outbox::open_store(uri);
  auto live = sleepy_tail(*store);
  auto first = next_async(*live, 3s);
  const int pid = wait_for_sleeper();
  ASSERT_NE(pid, 0);
  exec(*observer, "SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  // The tail sees its connection end; next() reports that (a retryable StoreError) or returns.
  try {
    EXPECT_TRUE(first.get().empty());
  } catch (const outbox::StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  auto got = next_async(*live, 20s);
  ASSERT_NE(wait_for_sleeper(pid), 0) << "the tail should reconnect, LISTEN again and sleep";
  commit_one(1, *orders);
  EXPECT_EQ(ordernrs(got.get()), (std::vector<std::int64_t>{1}));
}

// Writers that send no wake-ups (another program's INSERTs, or wake_relay = false) need a polling
// tail: with StoreOptions::wakeups = false it never sleeps on the lock and still delivers.
TEST_F(PgWakeup, WithoutWakeupsTheTailPolls) {
  outbox::StoreOptions options;
  options.wakeups = false;
  auto store = outbox::open_store(uri, options);
  auto live = sleepy_tail(*store);
  const outbox::postgres::Outbox quiet(name, order_schemas(), {.wake_relay = false});
  auto got = next_async(*live, 20s);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(sleeper(), 0);
  commit_one(1, quiet);
  EXPECT_EQ(ordernrs(got.get()), (std::vector<std::int64_t>{1}));
}

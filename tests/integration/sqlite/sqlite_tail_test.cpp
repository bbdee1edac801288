// The live tail: cursors, batches, wake-ups from other processes, closing from another thread.
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "cli_run.hpp"
#include "sqlite_fixture.hpp"

#include "outbox/errors.hpp"

using namespace testing_sqlite;
using namespace std::chrono_literals;

class SqliteTail : public SqliteTest {
 protected:
  void put_committed(int from, int to) {
    exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) orders.put(db, order_created(i));
    exec(db, "COMMIT");
  }
};

TEST_F(SqliteTail, StartsAtBeginningEndOrAPosition) {
  put_committed(1, 5);
  auto store = outbox::open_store(uri());
  auto all = store->tail("orders", outbox::Cursor::beginning())->next(0ms);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().position, 1);
  EXPECT_TRUE(store->tail("orders", outbox::Cursor::end())->next(0ms).empty());
  auto from3 = store->tail("orders", outbox::Cursor::after(store->checkpoint_before(3)))->next(0ms);
  ASSERT_EQ(from3.size(), 3u);
  EXPECT_EQ(from3.front().position, 3);
  auto from_end = store->tail("orders", outbox::Cursor::end());
  put_committed(6, 6);
  auto fresh = from_end->next(1s);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].position, 6);
}

TEST_F(SqliteTail, YieldsBatchesOfTheConfiguredSizeInOrder) {
  put_committed(1, 25);
  auto store = outbox::open_store(uri());
  outbox::TailOptions o;
  o.batch_size = 10;
  auto tail = store->tail("orders", outbox::Cursor::beginning(), o);
  std::vector<std::size_t> sizes;
  std::int64_t last = 0;
  for (auto batch = tail->next(0ms); !batch.empty(); batch = tail->next(0ms)) {
    sizes.push_back(batch.size());
    for (const auto& m : batch) {
      EXPECT_GT(m.position, last);
      last = m.position;
    }
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
}

TEST_F(SqliteTail, CommitsFromAnotherProcessWakeAWaitingTail) {
  auto store = outbox::open_store(uri());
  outbox::TailOptions o;
  o.recheck_interval = std::chrono::hours(1);  // only real wake-ups can end the waits in time
  auto tail = store->tail("orders", outbox::Cursor::end(), o);
  constexpr int kCommits = 8;
  const pid_t child = fork();
  if (child == 0) {
    sqlite3* other = nullptr;
    sqlite3_open(path.c_str(), &other);
    sqlite3_busy_timeout(other, 5000);
    exec(other, "PRAGMA synchronous=FULL");  // the fsync widens the gap between WAL write and visibility
    outbox::sqlite::Outbox writer("orders", order_schemas());
    for (int i = 1; i <= kCommits; ++i) {
      std::this_thread::sleep_for(150ms);
      exec(other, "BEGIN");
      writer.put(other, order_created(i));
      exec(other, "COMMIT");
    }
    sqlite3_close(other);
    _exit(0);
  }
  // Commits come every 150 ms, so a wait of 5 s that ends empty means a commit was missed.
  std::vector<outbox::Message> received;
  int empty_waits = 0;
  while (received.size() < kCommits && empty_waits < 3) {
    auto batch = tail->next(5s);
    if (batch.empty()) ++empty_waits;
    for (auto& m : batch) received.push_back(std::move(m));
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(empty_waits, 0) << "a commit from the other process did not wake the tail";
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kCommits));
  for (int i = 0; i < kCommits; ++i) EXPECT_EQ(received[i].data["ordernr"], i + 1);
}

TEST_F(SqliteTail, UncommittedMessagesAreInvisibleUntilCommit) {
  auto store = outbox::open_store(uri());
  auto tail = store->tail("orders", outbox::Cursor::beginning());
  exec(db, "BEGIN");
  orders.put(db, order_created(1));
  EXPECT_TRUE(tail->next(100ms).empty());
  exec(db, "COMMIT");
  EXPECT_EQ(tail->next(1s).size(), 1u);
}

TEST_F(SqliteTail, CloseFromAnotherThreadEndsAWait) {
  auto store = outbox::open_store(uri());
  outbox::TailOptions o;
  o.recheck_interval = std::chrono::hours(1);
  auto tail = store->tail("orders", outbox::Cursor::end(), o);
  std::thread closer([&] {
    std::this_thread::sleep_for(200ms);
    tail->close();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(tail->next(std::chrono::hours(1)).empty());
  closer.join();
  EXPECT_TRUE(tail->closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(5)) << "close() did not wake next()";
}

// The library says what is wrong (NoSuchOutbox, naming it) without CLI flags; the CLI adds the
// command that creates it.
TEST_F(SqliteTail, UnknownOutboxSaysHowToCreateIt) {
  auto store = outbox::open_store(uri());
  try {
    store->tail("payments", outbox::Cursor::beginning());
    FAIL();
  } catch (const outbox::NoSuchOutbox& e) {
    EXPECT_EQ(e.outbox(), "payments");
    EXPECT_NE(std::string(e.what()).find("create it first"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << "names no CLI flag: " << e.what();
  }
  const auto run = testing_support::cli("tail --store " + uri() + " --outbox payments");
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("outbox init --store STORE --outbox payments"), std::string::npos) << run.output;
}

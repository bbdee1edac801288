// The server restarts mid-stream (fast shutdown: every session is cut). The store and the tail
// report a retryable StoreError, reconnect on the next call and go on from where they were:
// nothing is lost or delivered twice. Runs alone (RUN_SERIAL): it restarts the shared server.
#include <cstdlib>
#include <set>
#include <thread>

#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;

class PgRestart : public PgTest {};

TEST_F(PgRestart, TailAndStoreReconnectAfterAServerRestart) {
  const char* state = std::getenv("OUTBOX_PG_STATE");
  if (!state) GTEST_SKIP() << "needs the throwaway server (OUTBOX_PG_STATE) to restart it";
  auto store = outbox::open_store(uri);
  auto tail = store->tail(name, outbox::Cursor::beginning(), {.batch_size = 10});
  auto put_committed = [&](int from, int to) {
    Conn c(uri);
    exec(c, "BEGIN");
    for (int i = from; i <= to; ++i) orders->put(c, order_created(i, "k" + std::to_string(i % 3)));
    exec(c, "COMMIT");
  };
  put_committed(1, 25);
  std::vector<std::int64_t> got;
  for (auto& m : tail->next(1s)) got.push_back(m.data["ordernr"]);  // one batch of 10: mid-stream
  ASSERT_EQ(got.size(), 10u);

  const std::string cmd = std::string(OUTBOX_PG_SCRIPTS) + "/restart.sh --state " + state + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);

  int errors = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool wrote_more = false;
  while (got.size() < 50 && std::chrono::steady_clock::now() < deadline) {
    try {
      for (auto& m : tail->next(100ms)) got.push_back(m.data["ordernr"]);
      if (!wrote_more && got.size() >= 25) {
        put_committed(26, 50);
        wrote_more = true;
      }
    } catch (const outbox::StoreError& e) {
      EXPECT_TRUE(e.retryable()) << e.what();
      ++errors;
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_GE(errors, 1) << "the restart must have cut the tail's connection";
  std::vector<std::int64_t> want;
  for (int i = 1; i <= 50; ++i) want.push_back(i);
  EXPECT_EQ(got, want);

  // The store's own connection was cut too: one retryable failure at most, then it works.
  int store_errors = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      EXPECT_EQ(store->status(name).count, 50);
      break;
    } catch (const outbox::StoreError& e) {
      EXPECT_TRUE(e.retryable()) << e.what();
      ++store_errors;
    }
  }
  EXPECT_EQ(store_errors, 1);
}

// SIGINT/SIGTERM to the real `outbox` process (issue 10, items 2 and 11): they are blocked before
// any thread starts, so every command ends as it should: the relay in order (exit 0, checkpoint
// saved, lease released) with every sink and even in its first millisecond; `tail --follow` with
// exit 0; commands with nothing to finish (put) by the signal itself, promptly.
#include <sys/wait.h>

#include "cli_fixture.hpp"
#include "relay_signal_checks.hpp"

using namespace testing_cli;

class CliSignals : public CliTest, public ::testing::WithParamInterface<std::string> {
 protected:
  RelaySetup setup() {
    RelaySetup s;
    s.store = uri();
    s.db_path = path;
    s.sink = GetParam() == "file" ? "file:" + dir + "/out.jsonl" : GetParam() + ":";
    s.dir = dir;
    return s;
  }
};

TEST_P(CliSignals, SigtermStopsTheRelayInOrderAndAStandbyTakesOver) {
  put_committed(1, 200);
  check_sigterm_stops_in_order(setup(), 200);
}

TEST_P(CliSignals, SigtermInTheFirstMillisecondStopsTheRelayInOrder) {
  put_committed(1, 20);
  check_sigterm_at_start(setup(), 5);
}

INSTANTIATE_TEST_SUITE_P(Sinks, CliSignals, ::testing::Values("stdout", "file", "null"),
                         [](const auto& info) { return info.param; });

class CliCommandSignals : public CliTest {};

TEST_F(CliCommandSignals, TailFollowEndsWithExitZeroOnSigterm) {
  put_committed(1, 3);
  const int out = open((dir + "/tail.jsonl").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  Process tail({OUTBOX_CLI, "tail", "--store", uri(), "--outbox", "orders", "--follow"}, dir + "/tail.log", out);
  close(out);
  for (int i = 0; i < 500 && testing_support::read_lines(dir + "/tail.jsonl").size() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(testing_support::read_lines(dir + "/tail.jsonl").size(), 3u) << tail.log();
  tail.signal(SIGTERM);
  const auto status = tail.wait(30s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << tail.log();
}

TEST_F(CliCommandSignals, TailFollowInTheFirstMillisecondEndsWithExitZero) {
  for (int i = 0; i < 3; ++i) {
    Process tail({OUTBOX_CLI, "tail", "--store", uri(), "--outbox", "orders", "--follow"}, dir + "/tail.log");
    ASSERT_TRUE(tail.wait_until_open(path, 30s)) << tail.log();
    tail.signal(SIGTERM);
    const auto status = tail.wait(30s);
    EXPECT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << tail.log();
  }
}

// A command with nothing to finish ends by the signal (as a parent expects: "killed by SIGTERM"),
// not after whatever it waits for: here `put --data -` waiting for stdin that never ends.
TEST_F(CliCommandSignals, PutWaitingForInputEndsBySigtermAtOnce) {
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  Process put({OUTBOX_CLI, "put", "--store", uri(), "--outbox", "orders", "--schema", schema_file(), "--type",
               "order_created", "--data", "-"},
              dir + "/put.log", -1, in[0]);
  close(in[0]);
  ASSERT_TRUE(put.wait_until_started(30s)) << put.log();
  std::this_thread::sleep_for(200ms);  // let it block in its read of stdin (it opens the store after that)
  put.signal(SIGTERM);
  const auto status = put.wait(30s);
  close(in[1]);
  ASSERT_TRUE(status.has_value()) << "put ignored SIGTERM while reading stdin\n" << put.log();
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGTERM) << describe(status) << "\n" << put.log();
  EXPECT_EQ(testing_sqlite::count(db, "SELECT count(*) FROM outbox_orders"), 0);
}

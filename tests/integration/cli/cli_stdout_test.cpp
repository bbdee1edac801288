// The stdout sink as it is used: `outbox relay --sink stdout: | some-program` (issue 10, item 9).
// When the reader exits, the relay must not die by SIGPIPE holding its lease: it ends in order with
// exit 1 and says why. When the reader stalls, SIGTERM and --shutdown-timeout still end it.
#include <algorithm>

#include "cli_fixture.hpp"

using namespace testing_cli;

class CliStdout : public CliTest {
 protected:
  std::vector<std::string> relay_argv(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {OUTBOX_CLI, "relay",   "--store",     uri(), "--outbox",     "orders",
                                     "--sink",   "stdout:", "--lease-ttl", "120", "--batch-size", "50"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
};

// Reads whole lines from `fd` until `n` arrived (or EOF); returns them.
std::vector<std::string> read_lines_from(int fd, std::size_t n) {
  std::vector<std::string> lines;
  std::string partial;
  char buffer[4096];
  while (lines.size() < n) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(got));
    for (auto eol = partial.find('\n'); eol != std::string::npos && lines.size() < n; eol = partial.find('\n')) {
      lines.push_back(partial.substr(0, eol));
      partial.erase(0, eol + 1);
    }
  }
  return lines;
}

TEST_F(CliStdout, ReaderThatExitsEndsTheRelayInOrderWithExitOne) {
  put_committed(1, 20000);  // far more than a pipe holds
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the child keeps only its stdout end
  Process relay(relay_argv(), dir + "/relay.log", p[1]);
  close(p[1]);
  const auto lines = read_lines_from(p[0], 10);  // `| head -10`
  ASSERT_EQ(lines.size(), 10u) << relay.log();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["position"], 1);
  close(p[0]);

  const auto status = relay.wait(60s);
  ASSERT_TRUE(exited_with(status, 1)) << "the reader exited: " << describe(status) << "\n"
                                      << testing_support::tail_of(relay.log());
  EXPECT_NE(relay.log().find("stdout was closed"), std::string::npos) << relay.log();
  const auto c = consumer_status(uri(), "orders");
  EXPECT_EQ(c["lease_active"], false) << "lease left behind: " << c.dump();
  EXPECT_GE(c["position"].get<std::int64_t>(), 10) << "checkpoint not saved: " << c.dump();
  EXPECT_LT(c["position"].get<std::int64_t>(), 20000) << c.dump();
}

// The same while the outbox is idle (`outbox relay --sink stdout: | jq`, jq quits): there is no
// write to fail, so the relay used to hold its lease until the next commit. The sink now notices
// the reader going by itself and the relay ends as above.
TEST_F(CliStdout, ReaderThatExitsWhileTheOutboxIsIdleEndsTheRelayInOrder) {
  put_committed(1, 5);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the child keeps only its stdout end
  Process relay(relay_argv(), dir + "/relay.log", p[1]);
  close(p[1]);
  ASSERT_EQ(read_lines_from(p[0], 5).size(), 5u) << relay.log();
  // All five acknowledged (and saved) before the reader goes: nothing is left to write.
  auto c = wait_for_status(
      uri(), "orders", [](const nlohmann::json& c) { return c["position"] == 5; }, 30s);
  ASSERT_EQ(c["position"], 5) << c.dump() << relay.log();
  close(p[0]);

  const auto status = relay.wait(30s);  // nothing is committed meanwhile
  ASSERT_TRUE(status.has_value()) << "the relay still runs 30 s after its reader exited\n" << relay.log();
  ASSERT_TRUE(exited_with(status, 1)) << describe(status) << "\n" << testing_support::tail_of(relay.log());
  EXPECT_NE(relay.log().find("stdout was closed"), std::string::npos) << relay.log();
  c = consumer_status(uri(), "orders");
  EXPECT_EQ(c["lease_active"], false) << "lease left behind: " << c.dump();
  EXPECT_EQ(c["position"], 5) << c.dump();
}

TEST_F(CliStdout, StalledReaderDoesNotBlockSigterm) {
  put_committed(1, 20000);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the child keeps only its stdout end
  Process relay(relay_argv({"--shutdown-timeout", "1"}), dir + "/relay.log", p[1]);
  close(p[1]);
  // The pipe fills (64 KiB, a few batches) and the relay's write waits for a reader that never reads.
  auto c = wait_for_status(
      uri(), "orders", [](const nlohmann::json& c) { return c["position"] > 0; }, 30s);
  ASSERT_GT(c["position"].get<std::int64_t>(), 0) << c.dump() << relay.log();
  std::this_thread::sleep_for(300ms);

  relay.signal(SIGTERM);
  const auto status = relay.wait(30s);
  ASSERT_TRUE(exited_with(status, 0)) << "SIGTERM while stdout's reader stalls: " << describe(status) << "\n"
                                      << testing_support::tail_of(relay.log());
  // What reached the pipe; the checkpoint never passes a message whose line is not all there.
  std::size_t complete = 0;  // the relay has ended, so this read ends at EOF
  char buffer[65536];
  for (ssize_t n; (n = read(p[0], buffer, sizeof buffer)) > 0;) complete += std::count(buffer, buffer + n, '\n');
  close(p[0]);
  c = consumer_status(uri(), "orders");
  EXPECT_EQ(c["lease_active"], false) << "lease left behind: " << c.dump();
  EXPECT_GT(c["position"].get<std::int64_t>(), 0) << c.dump();
  EXPECT_LE(c["position"].get<std::int64_t>(), static_cast<std::int64_t>(complete)) << c.dump();
}

// `outbox tail | head -1` ends tail quietly, as SIGPIPE did before the relay needed it ignored.
TEST_F(CliStdout, TailWhoseReaderExitsEndsQuietlyBySigpipe) {
  put_committed(1, 5000);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the child keeps only its stdout end
  Process tail({OUTBOX_CLI, "tail", "--store", uri(), "--outbox", "orders"}, dir + "/tail.log", p[1]);
  close(p[1]);
  ASSERT_EQ(read_lines_from(p[0], 1).size(), 1u);
  close(p[0]);
  const auto status = tail.wait(30s);
  ASSERT_TRUE(status.has_value()) << tail.log();
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGPIPE) << describe(status) << "\n" << tail.log();
  EXPECT_EQ(tail.log(), "");
}

// `outbox tail --follow | head -3` on an outbox that then stays idle: with nothing more to write,
// tail used to wait for the next commit before it noticed that head had gone, holding the shell's
// pipeline open indefinitely. It now checks its reader between waits.
TEST_F(CliStdout, FollowingTailEndsWhenItsReaderExitsWhileTheOutboxIsIdle) {
  put_committed(1, 5);  // all of it fits in the pipe: no write fails
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // the child keeps only its stdout end
  Process tail({OUTBOX_CLI, "tail", "--store", uri(), "--outbox", "orders", "--follow"}, dir + "/tail.log", p[1]);
  close(p[1]);
  ASSERT_EQ(read_lines_from(p[0], 3).size(), 3u) << tail.log();
  close(p[0]);
  const auto status = tail.wait(30s);  // nothing is committed meanwhile
  ASSERT_TRUE(status.has_value()) << "tail --follow still running 30 s after its reader exited\n" << tail.log();
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGPIPE) << describe(status) << "\n" << tail.log();
  EXPECT_EQ(tail.log(), "");
}

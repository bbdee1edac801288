// WAL mode across a server restart: the `outbox relay` process streams the consumer's slot to a
// file sink, the logical cluster restarts (fast shutdown cuts the replication connection), and
// the relay reconnects to the slot and delivers what was committed before and after, each
// message once, in commit order. Runs alone (RUN_SERIAL): it restarts the logical cluster.
#include <signal.h>

#include <filesystem>
#include <thread>

#include "child_processes.hpp"
#include "pg_wal_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The complete lines the file sink wrote so far (a line being written is left out).
std::vector<nlohmann::json> complete_lines(const fs::path& file) {
  const std::string text = testing_support::read_text(file);
  std::vector<nlohmann::json> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  }
  return out;
}

}  // namespace

class WalRestart : public WalTest {};

TEST_F(WalRestart, RelayProcessResumesFromItsSlotAfterAServerRestart) {
  const char* state = std::getenv("OUTBOX_PG_LOGICAL_STATE");
  if (!state) GTEST_SKIP() << "needs the throwaway logical server (OUTBOX_PG_LOGICAL_STATE) to restart it";
  std::string pattern = (fs::temp_directory_path() / "outbox-pg-wal-restart-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern, out = dir / "delivered.jsonl", log = dir / "relay.log";
  for (int t = 0; t < 10; ++t) put_committed(t * 10 + 1, t * 10 + 10);

  testing_support::Children children;
  const pid_t relay = children.spawn(
      {OUTBOX_CLI, "relay", "--store", uri, "--outbox", name, "--sink", "file:" + out.string(), "--batch-size", "16"},
      log, log);
  auto wait_for_lines = [&](std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (complete_lines(out).size() < n && std::chrono::steady_clock::now() < deadline) {
      if (children.poll(relay)) return false;
      std::this_thread::sleep_for(20ms);
    }
    return complete_lines(out).size() >= n;
  };
  ASSERT_TRUE(wait_for_lines(100)) << testing_support::read_text(log);

  const std::string cmd = std::string(OUTBOX_PG_SCRIPTS) + "/restart.sh --state " + state + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  a = std::make_unique<Conn>(uri);  // the old session was cut
  for (int t = 10; t < 20; ++t) put_committed(t * 10 + 1, t * 10 + 10);
  ASSERT_TRUE(wait_for_lines(200)) << testing_support::read_text(log);
  std::this_thread::sleep_for(300ms);  // anything repeated would show up now

  children.signal(relay, SIGTERM);
  const auto status = children.wait(relay, 30s);
  ASSERT_TRUE(status.has_value()) << "the relay did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << testing_support::describe_status(*status) << "\n"
                                                               << testing_support::read_text(log);
  const auto lines = complete_lines(out);
  ASSERT_EQ(lines.size(), 200u) << testing_support::tail_of(testing_support::read_text(log));
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["data"]["ordernr"], i + 1) << "line " << i;
  EXPECT_NE(testing_support::read_text(log).find("store reachable again"), std::string::npos)
      << testing_support::tail_of(testing_support::read_text(log));
  fs::remove_all(dir);
}

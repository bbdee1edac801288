// The `outbox relay` process keeps publishing to a file sink while a writer commits and the
// PostgreSQL server restarts under both (fast shutdown: every session is cut). Every committed
// message is delivered, each key in commit order, nothing uncommitted is; the relay logs the outage
// and the reconnect, and still stops cleanly (exit 0) on SIGTERM. Runs alone (RUN_SERIAL): it
// restarts the shared server.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "child_processes.hpp"
#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Written {
  std::int64_t ordernr;
  std::string key;
  std::string id;
};

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

// Commits messages 1..total (one or two per transaction, keys k0..k4) on its own connection,
// riding out a server restart: a transaction cut before COMMIT is written again; one cut during
// COMMIT (in doubt) is looked up by id after reconnecting, and written again only if absent.
class Writer {
 public:
  Writer(std::string uri, const outbox::postgres::Outbox& box, std::int64_t total)
      : uri_(std::move(uri)), box_(box), total_(total), thread_([this] { run(); }) {}
  ~Writer() { join(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::int64_t committed_count() const { return count_.load(); }
  std::vector<Written> committed() {
    std::lock_guard lock(mutex_);
    return committed_;
  }
  int failures() const { return failures_; }
  int in_doubt() const { return in_doubt_; }
  const std::string& error() const { return error_; }

 private:
  void run() {
    std::unique_ptr<Conn> conn;
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    std::int64_t next = 1;
    while (next <= total_) {
      if (std::chrono::steady_clock::now() > give_up) {
        error_ = "the writer could not commit everything in 60 s";
        return;
      }
      std::vector<outbox::Message> batch;
      for (std::int64_t nr = next; nr <= std::min(total_, next + (next % 2)); ++nr) {
        batch.push_back(order_created(nr, "k" + std::to_string(nr % 5)));
      }
      bool commit_sent = false;
      try {
        if (!conn || PQstatus(*conn) != CONNECTION_OK) conn = std::make_unique<Conn>(uri_);
        exec(*conn, "BEGIN");
        for (auto& m : batch) m = box_.put(*conn, std::move(m));
        commit_sent = true;
        exec(*conn, "COMMIT");
      } catch (const std::exception&) {
        ++failures_;
        conn.reset();
        if (!commit_sent || !committed_after_all(batch)) {
          std::this_thread::sleep_for(50ms);
          continue;  // nothing of it committed: write it again (new ids)
        }
      }
      {
        std::lock_guard lock(mutex_);
        for (const auto& m : batch) committed_.push_back({m.data.at("ordernr").get<std::int64_t>(), *m.key, m.id});
      }
      next += static_cast<std::int64_t>(batch.size());
      count_.store(next - 1);
      std::this_thread::sleep_for(2ms);
    }
  }

  // After a COMMIT whose outcome is unknown: reconnect (waiting for the server) and look the
  // messages up. Throws if the server does not come back.
  bool committed_after_all(const std::vector<outbox::Message>& batch) {
    ++in_doubt_;
    for (int attempt = 0;; ++attempt) {
      try {
        Conn c(uri_);
        return scalar(c, "SELECT count(*) FROM outbox_" + box_.name() + " WHERE id = '" + batch.front().id + "'") ==
               "1";
      } catch (const std::exception&) {
        if (attempt > 300) throw;
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  std::string uri_;
  const outbox::postgres::Outbox& box_;
  std::int64_t total_;
  std::mutex mutex_;
  std::vector<Written> committed_;
  std::atomic<std::int64_t> count_{0};
  int failures_ = 0, in_doubt_ = 0;
  std::string error_;
  std::thread thread_;
};

}  // namespace

class PgRelayRestart : public PgTest {};

TEST_F(PgRelayRestart, RelayProcessDeliversEveryCommitAcrossAServerRestart) {
  const char* state = std::getenv("OUTBOX_PG_STATE");
  if (!state) GTEST_SKIP() << "needs the throwaway server (OUTBOX_PG_STATE) to restart it";
  std::string pattern = (fs::temp_directory_path() / "outbox-pg-restart-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern, out = dir / "delivered.jsonl", log = dir / "relay.log";

  testing_support::Children children;
  const pid_t relay = children.spawn(
      {OUTBOX_CLI, "relay", "--store", uri, "--outbox", name, "--sink", "file:" + out.string(), "--batch-size", "50"},
      log, log);
  const std::int64_t total = 1500;
  Writer writer(uri, *orders, total);

  // Mid-stream: the relay has published some, the writer is still writing.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((writer.committed_count() < 300 || complete_lines(out).size() < 100) &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(children.poll(relay)) << "the relay ended early:\n" << testing_support::read_text(log);
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(writer.committed_count(), 300) << writer.error();
  const auto before = complete_lines(out).size();
  ASSERT_LT(writer.committed_count(), total) << "the writer finished before the restart; slow it down";
  const std::string cmd = std::string(OUTBOX_PG_SCRIPTS) + "/restart.sh --state " + state + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  writer.join();
  ASSERT_EQ(writer.error(), "");
  const auto committed = writer.committed();
  ASSERT_EQ(committed.size(), static_cast<std::size_t>(total));

  // The relay catches up with everything committed.
  std::vector<nlohmann::json> lines;
  std::set<std::string> ids;
  const auto catch_up = std::chrono::steady_clock::now() + 60s;
  auto all_delivered = [&] {
    for (const auto& w : committed) {
      if (!ids.count(w.id)) return false;
    }
    return true;
  };
  do {
    std::this_thread::sleep_for(50ms);
    lines = complete_lines(out);
    ids.clear();
    for (const auto& l : lines) ids.insert(l.at("id").get<std::string>());
  } while (!all_delivered() && std::chrono::steady_clock::now() < catch_up && !children.poll(relay));

  children.signal(relay, SIGTERM);
  const auto status = children.wait(relay, 30s);
  const std::string relay_log = testing_support::read_text(log);
  ASSERT_TRUE(status.has_value()) << "the relay did not stop on SIGTERM:\n" << testing_support::tail_of(relay_log);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << testing_support::describe_status(*status) << "\n"
                                                               << testing_support::tail_of(relay_log);

  lines = complete_lines(out);
  std::map<std::string, const Written*> by_id;
  for (const auto& w : committed) by_id[w.id] = &w;
  std::set<std::string> seen;
  std::map<std::string, std::int64_t> last_per_key;
  std::int64_t duplicates = 0, unknown = 0, reorders = 0;
  for (const auto& l : lines) {
    const auto id = l.at("id").get<std::string>();
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      ++unknown;
      continue;
    }
    if (!seen.insert(id).second) {
      ++duplicates;
      continue;
    }
    auto& last = last_per_key[it->second->key];
    if (it->second->ordernr < last) ++reorders;
    last = std::max(last, it->second->ordernr);
  }
  std::int64_t lost = 0;
  for (const auto& w : committed) lost += seen.count(w.id) ? 0 : 1;
  std::cout << "relay restart: " << committed.size() << " committed (" << writer.failures() << " writer failures, "
            << writer.in_doubt() << " commits in doubt), " << before << " delivered before the restart, "
            << lines.size() << " lines: lost " << lost << ", uncommitted delivered " << unknown << ", per-key reorders "
            << reorders << ", duplicates " << duplicates << std::endl;
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(unknown, 0);
  EXPECT_EQ(reorders, 0);
  EXPECT_GE(writer.failures(), 1) << "the restart did not cut the writer: the test did not test a restart mid-stream";

  // The log shows the outage and the reconnect.
  {
    std::istringstream in(relay_log);
    for (std::string l; std::getline(in, l);) {
      if (l.find("retrying in") != std::string::npos || l.find("reachable again") != std::string::npos) {
        std::cout << "relay log: " << l << "\n";
      }
    }
  }
  EXPECT_NE(relay_log.find("(connection lost); retrying in"), std::string::npos) << testing_support::tail_of(relay_log);
  EXPECT_NE(relay_log.find("store reachable again"), std::string::npos) << testing_support::tail_of(relay_log);
  EXPECT_NE(relay_log.find("relay stopped"), std::string::npos) << testing_support::tail_of(relay_log);
  if (!HasFailure())
    fs::remove_all(dir);
  else
    std::cout << "work folder kept: " << dir << std::endl;
}

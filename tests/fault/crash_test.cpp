// The crash test. Writer processes (crash_writer.cpp) commit messages over shared keys, rolling back
// a random fifth of their transactions, while the real `outbox relay` process is killed with
// SIGKILL at random moments and restarted; at the end one `outbox relay --drain` finishes. Then:
// every committed message was delivered at least once, none from a rolled-back transaction, each
// key's messages were first delivered in commit order, and the duplicates are counted and printed.
//
// Knobs (environment): OUTBOX_CRASH_SEED, OUTBOX_CRASH_WRITERS (3), OUTBOX_CRASH_TXNS (2000 per
// writer), OUTBOX_CRASH_KEYS (8), OUTBOX_CRASH_KILLS (at least this many kills, 20),
// OUTBOX_CRASH_PAUSE_US (a writer's longest pause between transactions, 20000),
// OUTBOX_CRASH_KEEP=1 (keep the work folder; it is always kept when the test fails).
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crash_verify.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

#ifndef OUTBOX_CLI
#error "OUTBOX_CLI must name the outbox binary"
#endif
#ifndef OUTBOX_CRASH_WRITER
#error "OUTBOX_CRASH_WRITER must name the writer binary"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail_of(const std::string& text, std::size_t n = 2000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Every child this test starts. Each one also gets PR_SET_PDEATHSIG, so it dies with the test even
// if the test itself is killed (e.g. by ctest's timeout); the destructor kills and reaps the rest.
class Children {
 public:
  Children() = default;
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  ~Children() {
    for (pid_t pid : live_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }

  // Starts `argv` with stdout and stderr sent to files (appended).
  pid_t spawn(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      ::close(o);
      ::close(e);
      ::execv(args[0], args.data());
      static const char failed[] = "crash test: exec failed\n";  // only async-signal-safe calls here
      [[maybe_unused]] const auto n = ::write(2, failed, sizeof failed - 1);
      ::_exit(127);
    }
    live_.insert(pid);
    return pid;
  }

  // Non-blocking: the exit status if `pid` has ended (and it is then forgotten).
  std::optional<int> poll(pid_t pid) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r != pid) return std::nullopt;
    live_.erase(pid);
    return status;
  }

  // Waits up to `timeout`; on timeout kills the child and returns nullopt.
  std::optional<int> wait(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    while (steady::now() < deadline) {
      if (auto s = poll(pid)) return s;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid);
    return std::nullopt;
  }

  // SIGKILL and reap; returns the exit status (a child may have ended by itself just before).
  int kill(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    live_.erase(pid);
    return status;
  }

 private:
  std::set<pid_t> live_;
};

std::string hostname() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

void exec_sql(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string what = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(sql + ": " + what);
  }
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "outbox-crash-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    if (HasFailure() || env_int("OUTBOX_CRASH_KEEP", 0) != 0) {
      std::cout << "work folder kept for inspection: " << dir_ << std::endl;
    } else {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  fs::path dir_;
};

TEST_F(CrashTest, RelayKilledAtRandomMomentsLosesNothingAndKeepsKeyOrder) {
  const std::uint64_t seed = static_cast<std::uint64_t>(env_int("OUTBOX_CRASH_SEED", std::random_device{}() & 0x7fffffff));
  const std::int64_t writers = env_int("OUTBOX_CRASH_WRITERS", 3);
  const std::int64_t txns = env_int("OUTBOX_CRASH_TXNS", 2000);
  const std::int64_t keys = env_int("OUTBOX_CRASH_KEYS", 8);
  const std::int64_t min_kills = env_int("OUTBOX_CRASH_KILLS", 20);
  const std::int64_t pause_us = env_int("OUTBOX_CRASH_PAUSE_US", 20000);
  std::cout << "crash test: seed " << seed << " (rerun with OUTBOX_CRASH_SEED=" << seed << "), " << writers
            << " writers x " << txns << " transactions over " << keys << " keys, at least " << min_kills
            << " relay kills; work folder " << dir_ << std::endl;
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

  const fs::path db_path = dir_ / "crash.db";
  const fs::path out_path = dir_ / "delivered.jsonl";
  const fs::path relay_log = dir_ / "relay.log";
  const std::string store_uri = "sqlite:" + db_path.string();

  // The outbox and the writers' business tables, in one database.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
    try {
      outbox::sqlite::Outbox("crash", outbox::SchemaRegistry{}).init(db);
      exec_sql(db,
               "CREATE TABLE crash_business (writer INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
               " key TEXT NOT NULL, key_seq INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, position INTEGER NOT NULL,"
               " PRIMARY KEY (writer, seq, idx));"
               "CREATE TABLE crash_key_counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);");
      for (std::int64_t k = 0; k < keys; ++k) {
        exec_sql(db, "INSERT INTO crash_key_counters VALUES ('k" + std::to_string(k) + "', 0)");
      }
    } catch (const std::exception& e) {
      sqlite3_close(db);
      FAIL() << e.what();
    }
    sqlite3_close(db);
  }
  auto store = outbox::sqlite::open(db_path.string());

  Children children;
  std::map<std::int64_t, pid_t> writer_pids;
  std::map<std::int64_t, int> writer_status;
  for (std::int64_t w = 1; w <= writers; ++w) {
    writer_pids[w] = children.spawn({OUTBOX_CRASH_WRITER, db_path.string(), std::to_string(w), std::to_string(txns),
                                     std::to_string(keys), std::to_string(seed), std::to_string(pause_us)},
                                    dir_ / ("writer-" + std::to_string(w) + ".out"),
                                    dir_ / ("writer-" + std::to_string(w) + ".err"));
  }
  auto writers_running = [&] {
    for (const auto& [w, pid] : writer_pids) {
      if (writer_status.count(w)) continue;
      if (auto s = children.poll(pid)) writer_status[w] = *s;
    }
    return writer_status.size() < writer_pids.size();
  };

  const std::string host = hostname();
  auto relay_args = [&](bool drain, int batch) {
    std::vector<std::string> a{OUTBOX_CLI, "relay", "--store", store_uri, "--outbox", "crash", "--sink",
                               "file:" + out_path.string(), "--lease-ttl", "1", "--batch-size", std::to_string(batch)};
    if (drain) a.push_back("--drain");
    return a;
  };
  // Whether `pid` holds the consumer's lease, and the consumer's lag.
  auto consumer = [&](pid_t pid) -> std::pair<bool, std::int64_t> {
    for (const auto& c : store->status("crash").consumers) {
      if (c.name == "default") return {c.lease_active && c.owner == host + ":" + std::to_string(pid), c.lag_messages};
    }
    return {false, -1};
  };

  // Start, kill at a random moment, restart, ... for as long as the writers write (and at least
  // `min_kills` times).
  int kills = 0, kills_holding_lease = 0, kills_with_lag = 0;
  std::vector<std::size_t> lives;  // the output's size whenever no relay runs: where one life ends
  auto end_of_life = [&] {
    std::error_code ec;
    const auto size = fs::file_size(out_path, ec);
    lives.push_back(ec ? 0 : static_cast<std::size_t>(size));
  };
  std::vector<std::string> relay_failures;
  const auto deadline = steady::now() + 240s;
  const int batch_sizes[] = {1, 7, 100, 1000};
  bool out_of_time = false;
  while (writers_running() || kills < min_kills) {
    if (steady::now() >= deadline) {
      out_of_time = true;
      break;
    }
    const fs::path attempt_log = dir_ / "relay-attempt.log";
    fs::remove(attempt_log);
    const int batch = batch_sizes[uniform(0, 3)];
    const pid_t pid = children.spawn(relay_args(false, batch), dir_ / "relay.out", attempt_log);
    std::optional<int> ended;
    if (uniform(1, 4) == 1) {
      // Anywhere from start-up through waiting for the dead predecessor's lease to early work.
      std::this_thread::sleep_for(std::chrono::milliseconds(uniform(0, 300)));
    } else {
      // 20-300 ms into the work, once this relay holds the lease.
      const auto give_up = steady::now() + 20s;
      while (!consumer(pid).first && steady::now() < give_up && !(ended = children.poll(pid))) {
        std::this_thread::sleep_for(5ms);
      }
      if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(uniform(20, 300)));
    }
    if (!ended) ended = children.poll(pid);
    if (ended) {
      relay_failures.push_back("relay " + std::to_string(pid) + " ended by itself (" + describe_status(*ended) +
                               "): " + tail_of(read_file(attempt_log)));
    } else {
      const auto [holding, lag] = consumer(pid);
      const int status = children.kill(pid);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        ++kills;
        if (holding) ++kills_holding_lease;
        if (holding && lag > 0) ++kills_with_lag;
      } else {
        relay_failures.push_back("relay " + std::to_string(pid) + " ended by itself (" + describe_status(status) +
                                 "): " + tail_of(read_file(attempt_log)));
      }
    }
    end_of_life();
    std::ofstream(relay_log, std::ios::app) << "--- relay pid " << pid << " batch " << batch << "\n"
                                            << read_file(attempt_log);
    if (relay_failures.size() >= 3) break;  // something is badly wrong; stop and report
  }
  for (const auto& f : relay_failures) ADD_FAILURE() << f;
  ASSERT_TRUE(relay_failures.empty());
  ASSERT_FALSE(out_of_time) << "the crash loop ran out of time after " << kills << " kills";
  for (const auto& [w, pid] : writer_pids) {
    if (!writer_status.count(w)) {
      auto s = children.wait(pid, 60s);
      ASSERT_TRUE(s.has_value()) << "writer " << w << " did not finish";
      writer_status[w] = *s;
    }
  }
  for (const auto& [w, status] : writer_status) {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "writer " << w << ": " << describe_status(status) << "\n"
        << read_file(dir_ / ("writer-" + std::to_string(w) + ".err"));
  }

  // One last relay that publishes what is left and exits; it first waits out the lease of the
  // last one killed.
  {
    const fs::path drain_log = dir_ / "relay-drain.log";
    const auto started = steady::now();
    const pid_t pid = children.spawn(relay_args(true, 1000), dir_ / "relay.out", drain_log);
    const auto status = children.wait(pid, 120s);
    std::ofstream(relay_log, std::ios::app) << "--- drain relay pid " << pid << "\n" << read_file(drain_log);
    ASSERT_TRUE(status.has_value()) << "the draining relay did not finish in 120 s: " << tail_of(read_file(drain_log));
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "the draining relay failed (" << describe_status(*status) << "): " << tail_of(read_file(drain_log));
    std::cout << "drain took " << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()
              << " ms" << std::endl;
  }

  // Ground truth: the business rows (only committed transactions left any) and the writers' own
  // tallies, which must agree with them.
  std::vector<outbox::crash::Committed> committed;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT writer, seq, idx, key, key_seq, id, position FROM crash_business", -1, &s,
                                 nullptr),
              SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
      outbox::crash::Committed c;
      c.writer = sqlite3_column_int64(s, 0);
      c.seq = sqlite3_column_int64(s, 1);
      c.idx = sqlite3_column_int64(s, 2);
      c.key = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      c.key_seq = sqlite3_column_int64(s, 4);
      c.id = reinterpret_cast<const char*>(sqlite3_column_text(s, 5));
      c.position = sqlite3_column_int64(s, 6);
      committed.push_back(std::move(c));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  std::int64_t committed_txns = 0, rolled_back_txns = 0, rolled_back_messages = 0;
  std::map<std::int64_t, std::int64_t> transactions;
  for (std::int64_t w = 1; w <= writers; ++w) {
    transactions[w] = txns;
    std::istringstream summary(read_file(dir_ / ("writer-" + std::to_string(w) + ".out")));
    std::string word;
    std::int64_t id = 0, ct = 0, rt = 0, cm = 0, rm = 0;
    summary >> word >> id >> word >> ct >> word >> rt >> word >> cm >> word >> rm;
    ASSERT_TRUE(summary && id == w) << "writer " << w << " printed no summary";
    std::set<std::int64_t> seqs;
    std::int64_t messages = 0;
    for (const auto& c : committed) {
      if (c.writer != w) continue;
      seqs.insert(c.seq);
      ++messages;
    }
    EXPECT_EQ(ct + rt, txns) << "writer " << w;
    EXPECT_EQ(static_cast<std::int64_t>(seqs.size()), ct) << "writer " << w << ": committed transactions in its table";
    EXPECT_EQ(messages, cm) << "writer " << w << ": committed messages in its table";
    committed_txns += ct;
    rolled_back_txns += rt;
    rolled_back_messages += rm;
  }

  ASSERT_TRUE(fs::exists(out_path)) << "the relay wrote no " << out_path;
  const auto v = outbox::crash::verify(committed, transactions, read_file(out_path), lives);
  const auto st = store->status("crash");

  std::cout << "transactions: " << committed_txns << " committed, " << rolled_back_txns << " rolled back ("
            << 100.0 * static_cast<double>(rolled_back_txns) / static_cast<double>(std::max<std::int64_t>(1, committed_txns + rolled_back_txns))
            << "%)\n"
            << "messages: " << v.committed << " committed, " << rolled_back_messages << " rolled back\n"
            << "delivered: " << v.lines << " lines, " << v.distinct << " distinct, " << v.duplicates
            << " duplicates, " << v.lost << " lost, " << v.from_rolled_back << " from rolled-back transactions, "
            << v.unknown << " unknown, " << v.mismatched << " mismatched\n"
            << "order: " << v.key_order_violations << " per-key violations, " << v.position_order_violations
            << " position-order violations, " << v.life_order_violations << " within-one-relay violations; " << v.torn_lines << " torn lines recovered, " << v.unparseable
            << " unparseable\n"
            << "relay: " << kills << " kills with SIGKILL (" << kills_holding_lease << " while holding the lease, "
            << kills_with_lag << " of them with messages pending)" << std::endl;
  RecordProperty("committed_messages", std::to_string(v.committed));
  RecordProperty("rolled_back_messages", std::to_string(rolled_back_messages));
  RecordProperty("delivered_lines", std::to_string(v.lines));
  RecordProperty("duplicates", std::to_string(v.duplicates));
  RecordProperty("kills", std::to_string(kills));

  EXPECT_EQ(v.lost, 0);
  EXPECT_EQ(v.from_rolled_back, 0);
  EXPECT_EQ(v.unknown, 0);
  EXPECT_EQ(v.mismatched, 0);
  EXPECT_EQ(v.key_order_violations, 0);
  EXPECT_EQ(v.position_order_violations, 0);
  EXPECT_EQ(v.life_order_violations, 0);
  EXPECT_EQ(v.unparseable, 0);
  EXPECT_EQ(v.ground_truth_errors, 0);
  EXPECT_EQ(v.distinct, v.committed);
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_GT(rolled_back_txns, 0) << "nothing was rolled back: the test did not test that";
  EXPECT_GE(kills, min_kills);
  EXPECT_GT(kills_holding_lease, 0) << "no kill hit a working relay";
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].lag_messages, 0) << "the drained consumer still lags";
  EXPECT_EQ(st.dead_letters, 0);
}

}  // namespace

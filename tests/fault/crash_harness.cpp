// The store-independent crash test (crash_harness.hpp): processes, kills, drain, verdict.
#include "crash_harness.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
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

#include "child_processes.hpp"
#include "outbox/outbox.hpp"
#include "outbox/store.hpp"

#ifndef OUTBOX_CLI
#error "OUTBOX_CLI must name the outbox binary"
#endif
#ifndef OUTBOX_CRASH_WRITER
#error "OUTBOX_CRASH_WRITER must name the writer binary"
#endif

namespace outbox::crash {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using testing_support::Children;
using testing_support::describe_status;
using testing_support::tail_of;

namespace {

std::string read_file(const fs::path& p) { return testing_support::read_text(p); }

}  // namespace

// Whether the relay's log has an error line (the CLI logs "TIME LEVEL MESSAGE") holding `text`
// (empty: never).
bool relay_stopped_with(const std::string& log, const std::string& text) {
  if (text.empty()) return false;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string time, level;
    words >> time >> level;
    if (level == "error" && line.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string hostname() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

void CrashTest::SetUp() {
  std::string pattern = (fs::temp_directory_path() / "outbox-crash-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
  dir_ = pattern;
}

void CrashTest::TearDown() {
  if (HasFailure() || env_int("OUTBOX_CRASH_KEEP", 0) != 0) {
    std::cout << "work folder kept for inspection: " << dir_ << std::endl;
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void CrashTest::run(CrashBackend& backend) {
  const std::uint64_t seed =
      static_cast<std::uint64_t>(env_int("OUTBOX_CRASH_SEED", std::random_device{}() & 0x7fffffff));
  const CrashProfile profile = backend.profile();
  const std::int64_t writers = env_int("OUTBOX_CRASH_WRITERS", profile.writers);
  const std::int64_t txns = env_int("OUTBOX_CRASH_TXNS", profile.txns);
  const std::int64_t keys = env_int("OUTBOX_CRASH_KEYS", profile.keys);
  const std::int64_t min_kills = env_int("OUTBOX_CRASH_KILLS", profile.kills);
  const std::int64_t pause_us = env_int("OUTBOX_CRASH_PAUSE_US", profile.pause_us);
  std::cout << "crash test: seed " << seed << " (rerun with OUTBOX_CRASH_SEED=" << seed << "), " << writers
            << " writers x " << txns << " transactions over " << keys
            << (profile.keys_per_writer ? " keys per writer" : " shared keys") << ", at least " << min_kills
            << " relay kills; work folder " << dir_ << std::endl;
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };

  const fs::path out_path = dir_ / "delivered.jsonl";
  const fs::path relay_log = dir_ / "relay.log";
  const std::string store_uri = backend.store_uri();
  ASSERT_NO_THROW(backend.prepare(keys));
  auto store = outbox::open_store(store_uri);

  Children children;
  std::map<std::int64_t, pid_t> writer_pids;
  std::map<std::int64_t, int> writer_status;
  for (std::int64_t w = 1; w <= writers; ++w) {
    writer_pids[w] = children.spawn(
        {OUTBOX_CRASH_WRITER, backend.writer_target(), std::to_string(w), std::to_string(txns), std::to_string(keys),
         std::to_string(seed), std::to_string(pause_us)},
        dir_ / ("writer-" + std::to_string(w) + ".out"), dir_ / ("writer-" + std::to_string(w) + ".err"));
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
    std::vector<std::string> a{OUTBOX_CLI,    "relay", "--store",      store_uri,
                               "--outbox",    "crash", "--sink",       "file:" + out_path.string(),
                               "--lease-ttl", "1",     "--batch-size", std::to_string(batch)};
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
  int kills = 0, kills_holding_lease = 0, kills_with_lag = 0, accepted_stops = 0;
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
    if (!ended) {
      const auto [holding, lag] = consumer(pid);
      const int status = children.kill(pid);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        ++kills;
        if (holding) ++kills_holding_lease;
        if (holding && lag > 0) ++kills_with_lag;
      } else {
        ended = status;
      }
    }
    if (ended) {
      const std::string log = read_file(attempt_log);
      if (relay_stopped_with(log, profile.accepted_relay_stop)) {
        ++accepted_stops;
      } else {
        relay_failures.push_back("relay " + std::to_string(pid) + " ended by itself (" + describe_status(*ended) +
                                 "): " + tail_of(log));
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
  std::vector<Committed> committed;
  ASSERT_NO_THROW(committed = backend.committed());
  std::int64_t committed_txns = 0, rolled_back_txns = 0, rolled_back_messages = 0, recovered_errors = 0,
               put_and_commit_txns = 0;
  std::map<std::int64_t, std::int64_t> transactions;
  for (std::int64_t w = 1; w <= writers; ++w) {
    transactions[w] = txns;
    std::istringstream summary(read_file(dir_ / ("writer-" + std::to_string(w) + ".out")));
    std::string word;
    std::int64_t id = 0, ct = 0, rt = 0, cm = 0, rm = 0, re = 0, pc = 0;
    summary >> word >> id >> word >> ct >> word >> rt >> word >> cm >> word >> rm >> word >> re >> word >> pc;
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
    recovered_errors += re;
    put_and_commit_txns += pc;
  }

  ASSERT_TRUE(fs::exists(out_path)) << "the relay wrote no " << out_path;
  const auto v = verify(committed, transactions, read_file(out_path), lives, backend.verify_options());
  const auto st = store->status("crash");

  std::cout << "transactions: " << committed_txns << " committed (" << put_and_commit_txns << " with put_and_commit), "
            << rolled_back_txns << " rolled back ("
            << 100.0 * static_cast<double>(rolled_back_txns) /
                   static_cast<double>(std::max<std::int64_t>(1, committed_txns + rolled_back_txns))
            << "%)\n"
            << "messages: " << v.committed << " committed, " << rolled_back_messages << " rolled back; "
            << recovered_errors << " failed writes settled by looking them up (writer-*.err)\n"
            << "delivered: " << v.lines << " lines, " << v.distinct << " distinct, " << v.duplicates << " duplicates, "
            << v.lost << " lost, " << v.from_rolled_back << " from rolled-back transactions, " << v.unknown
            << " unknown, " << v.mismatched << " mismatched\n"
            << "order: " << v.key_order_violations << " per-key violations, " << v.position_order_violations
            << " position-order violations (" << v.position_inversions << " first deliveries after a higher position), "
            << v.life_order_violations << " within-one-relay violations; " << v.torn_lines << " torn lines recovered, "
            << v.unparseable << " unparseable\n"
            << "relay: " << kills << " kills with SIGKILL (" << kills_holding_lease << " while holding the lease, "
            << kills_with_lag << " of them with messages pending)";
  if (!profile.accepted_relay_stop.empty()) {
    std::cout << ", " << accepted_stops << " relays stopped by themselves with \"" << profile.accepted_relay_stop
              << "\" (accepted for this store)";
  }
  std::cout << std::endl;
  RecordProperty("committed_messages", std::to_string(v.committed));
  RecordProperty("rolled_back_messages", std::to_string(rolled_back_messages));
  RecordProperty("recovered_writer_errors", std::to_string(recovered_errors));
  RecordProperty("delivered_lines", std::to_string(v.lines));
  RecordProperty("duplicates", std::to_string(v.duplicates));
  RecordProperty("kills", std::to_string(kills));
  RecordProperty("accepted_relay_stops", std::to_string(accepted_stops));

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

}  // namespace outbox::crash

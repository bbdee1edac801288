// The end-to-end matrix's harness (e2e_harness.hpp): processes, signals, lease and lag checks,
// verdict.
#include "e2e_harness.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_processes.hpp"
#include "outbox/outbox.hpp"
#include "outbox/store.hpp"

#ifndef OUTBOX_CLI
#error "OUTBOX_CLI must name the outbox binary"
#endif
#ifndef OUTBOX_CRASH_WRITER
#error "OUTBOX_CRASH_WRITER must name the writer binary"
#endif

namespace outbox::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using crash::env_int;
using testing_support::Children;
using testing_support::describe_status;
using testing_support::read_text;
using testing_support::tail_of;

namespace {

std::int64_t ms_since(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t).count();
}

// "n, median m ms, max x ms" of some durations.
std::string spread(std::vector<std::int64_t> ms) {
  if (ms.empty()) return "none";
  std::sort(ms.begin(), ms.end());
  return std::to_string(ms.size()) + ", median " + std::to_string(ms[ms.size() / 2]) + " ms, max " +
         std::to_string(ms.back()) + " ms";
}

struct RelayProcess {
  pid_t pid = 0;
  int number = 0;
  fs::path log;
};

}  // namespace

void E2eTest::run_cell(crash::CrashBackend& backend, SinkUnderTest& sink, const CellOptions& cell) {
  const std::uint64_t seed =
      static_cast<std::uint64_t>(env_int("OUTBOX_E2E_SEED", std::random_device{}() & 0x7fffffff));
  const crash::CrashProfile profile = backend.profile();
  const std::int64_t seconds = env_int("OUTBOX_E2E_SECONDS", 20);
  const std::int64_t lease_ttl = env_int("OUTBOX_E2E_LEASE_TTL", 3);
  const std::int64_t lag_bound = env_int("OUTBOX_E2E_LAG_BOUND", 30);
  const std::int64_t min_terms = env_int("OUTBOX_E2E_TERMS", 3);
  const std::int64_t min_kills = cell.sigkill ? env_int("OUTBOX_E2E_KILLS", 3) : 0;
  const std::int64_t hold_ms = env_int("OUTBOX_E2E_HOLD_MS", 1000);
  const std::int64_t writers = env_int("OUTBOX_CRASH_WRITERS", cell.writers > 0 ? cell.writers : profile.writers);
  const std::int64_t keys = env_int("OUTBOX_CRASH_KEYS", profile.keys);
  const std::int64_t pause_us = env_int("OUTBOX_CRASH_PAUSE_US", profile.pause_us);
  // --shutdown-timeout, well below the lease's TTL: the relay does not renew its lease while it drains
  // on SIGTERM, so a drain longer than what is left of the lease (the broker down, with 5 s here:
  // 10 s) lets the standby take over and the draining relay then exits 1 with "no longer holds".
  const char* const shutdown_timeout_arg = "0.5";
  const int shutdown_timeout = 1;  // its bound, rounded up, for the waits below
  std::cout << "e2e " << sink.name() << " cell: seed " << seed << " (rerun with OUTBOX_E2E_SEED=" << seed << "), "
            << writers << " writers"
            << (cell.late_writers ? " + " + std::to_string(cell.late_writers) + " late committers (hold up to " +
                                        std::to_string(hold_ms) + " ms)"
                                  : std::string())
            << " for " << seconds << " s, lease TTL " << lease_ttl << " s"
            << (cell.retention_max_count > 0
                    ? ", retention --max-count " + std::to_string(cell.retention_max_count) + " every 1 s"
                    : std::string())
            << "; work folder " << dir_ << std::endl;
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };

  const std::string store_uri = backend.store_uri();
  ASSERT_NO_THROW(backend.prepare(keys));
  ASSERT_NO_THROW(sink.prepare(dir_));
  auto store = outbox::open_store(store_uri);
  const std::string host = crash::hostname();

  // The pid holding the consumer's lease, if any.
  auto holder = [&]() -> std::optional<pid_t> {
    for (const auto& c : store->status("crash").consumers) {
      if (c.name != "default" || !c.lease_active) continue;
      if (c.owner.rfind(host + ":", 0) != 0) return std::nullopt;
      return static_cast<pid_t>(std::stoll(c.owner.substr(host.size() + 1)));
    }
    return std::nullopt;
  };

  Children children;
  std::vector<pid_t> writer_pids;
  std::map<std::int64_t, int> writer_status;
  const std::int64_t all_writers = writers + cell.late_writers;
  const std::int64_t txns_bound = 100000000;  // writers run for `seconds`, not a count
  for (std::int64_t w = 1; w <= all_writers; ++w) {
    std::vector<std::string> args{OUTBOX_CRASH_WRITER,        backend.writer_target(),       std::to_string(w),
                                  std::to_string(txns_bound), std::to_string(keys),          std::to_string(seed),
                                  std::to_string(pause_us),   std::to_string(seconds * 1000)};
    if (w > writers) args.push_back(std::to_string(hold_ms));
    writer_pids.push_back(children.spawn(args, dir_ / ("writer-" + std::to_string(w) + ".out"),
                                         dir_ / ("writer-" + std::to_string(w) + ".err")));
  }
  const auto started = steady::now();
  std::optional<steady::time_point> writers_done_at;
  auto writers_running = [&] {
    for (std::size_t i = 0; i < writer_pids.size(); ++i) {
      const auto w = static_cast<std::int64_t>(i + 1);
      if (writer_status.count(w)) continue;
      if (auto s = children.poll(writer_pids[i])) writer_status[w] = *s;
    }
    const bool running = writer_status.size() < writer_pids.size();
    if (!running && !writers_done_at) writers_done_at = steady::now();
    return running;
  };

  // Relays: the lease holder and one standby.
  int relays_started = 0;
  std::vector<RelayProcess> live;
  std::vector<std::string> failures;  // each fails the test once, at the end, with its details
  auto fail = [&](const std::string& what) {
    std::cout << "FAILURE: " << what << std::endl;
    failures.push_back(what);
  };
  const int batch_sizes[] = {1, 7, 100, 1000};
  auto start_relay = [&] {
    RelayProcess r;
    r.number = ++relays_started;
    r.log = dir_ / ("relay-" + std::to_string(r.number) + ".log");
    std::vector<std::string> args{OUTBOX_CLI,
                                  "relay",
                                  "--store",
                                  store_uri,
                                  "--outbox",
                                  "crash",
                                  "--lease-ttl",
                                  std::to_string(lease_ttl),
                                  "--batch-size",
                                  std::to_string(batch_sizes[uniform(0, 3)]),
                                  "--shutdown-timeout",
                                  shutdown_timeout_arg};
    if (cell.retention_max_count > 0) {
      args.insert(args.end(), {"--max-count", std::to_string(cell.retention_max_count), "--retention-interval", "1"});
    }
    for (auto& a : sink.relay_args(r.number, rng)) args.push_back(std::move(a));
    r.pid = children.spawn(args, dir_ / ("relay-" + std::to_string(r.number) + ".out"), r.log);
    live.push_back(r);
    return r;
  };
  int accepted_stops = 0;
  // Relays that ended without being told to.
  auto reap = [&] {
    for (auto it = live.begin(); it != live.end();) {
      if (auto s = children.poll(it->pid)) {
        const std::string log = read_text(it->log);
        if (crash::relay_stopped_with(log, profile.accepted_relay_stop)) {
          ++accepted_stops;
        } else {
          fail("relay " + std::to_string(it->number) + " (pid " + std::to_string(it->pid) + ") ended by itself (" +
               describe_status(*s) + "): " + tail_of(log));
        }
        it = live.erase(it);
      } else {
        ++it;
      }
    }
  };
  auto ensure_standby = [&] {
    while (live.size() < 2) start_relay();
  };
  // Waits until `pid` holds the lease; the milliseconds it took, or nullopt (bound, or it ended).
  auto wait_for_holder = [&](pid_t pid, std::chrono::milliseconds bound) -> std::optional<std::int64_t> {
    const auto t0 = steady::now();
    while (steady::now() - t0 < bound) {
      if (holder() == pid) return ms_since(t0);
      if (std::none_of(live.begin(), live.end(), [&](const RelayProcess& r) { return r.pid == pid; })) break;
      reap();
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  };

  std::vector<std::int64_t> term_stop_ms, term_takeover_ms, kill_takeover_ms;
  int terms = 0, terms_exit_0 = 0, terms_released = 0, kills = 0;
  // Stops the lease holder (SIGTERM: checked; SIGKILL: a crash) and measures the standby's takeover.
  auto stop_holder = [&](bool term) {
    const auto h = holder();
    auto victim_it = std::find_if(live.begin(), live.end(), [&](const RelayProcess& r) { return h == r.pid; });
    if (victim_it == live.end()) return false;  // a takeover is under way
    const RelayProcess victim = *victim_it;
    live.erase(victim_it);
    std::optional<RelayProcess> standby;
    if (!live.empty()) standby = live.front();
    if (term) {
      ++terms;
      const auto t0 = steady::now();
      children.signal(victim.pid, SIGTERM);
      const auto status = children.wait(victim.pid, std::chrono::seconds(shutdown_timeout + 20));
      const auto stop_ms = ms_since(t0);
      term_stop_ms.push_back(stop_ms);
      // Right after the exit: a released lease is free, or already the standby's.
      const auto after = holder();
      if (!status) {
        fail("relay " + std::to_string(victim.number) + " did not stop within " +
             std::to_string(shutdown_timeout + 20) + " s of SIGTERM (killed): " + tail_of(read_text(victim.log)));
      } else if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
        ++terms_exit_0;
      } else {
        fail("SIGTERM ended relay " + std::to_string(victim.number) + " with " + describe_status(*status) +
             " (expected exit code 0) after " + std::to_string(stop_ms) +
             " ms: " + tail_of(read_text(victim.log), 600));
      }
      if (after == victim.pid) {
        fail("relay " + std::to_string(victim.number) + " exited after SIGTERM still holding its lease (not released)");
      } else {
        ++terms_released;
      }
    } else {
      ++kills;
      children.kill(victim.pid);
    }
    if (standby) {
      const auto bound = std::chrono::seconds(lease_ttl + 20);
      if (const auto took = wait_for_holder(standby->pid, bound)) {
        (term ? term_takeover_ms : kill_takeover_ms).push_back(*took);
      } else if (std::any_of(live.begin(), live.end(), [&](const RelayProcess& r) { return r.pid == standby->pid; })) {
        fail("the standby relay " + std::to_string(standby->number) + " did not take over within " +
             std::to_string(bound.count()) + " s of relay " + std::to_string(victim.number) + "'s " +
             (term ? "SIGTERM" : "SIGKILL") + ": " + tail_of(read_text(standby->log)));
      }
    }
    return true;
  };

  // The first relay takes the lease; then a standby waits beside it.
  {
    const auto first = start_relay();
    if (!wait_for_holder(first.pid, 30s)) {
      FAIL() << "the first relay never took the lease: " << tail_of(read_text(first.log));
    }
    ensure_standby();
  }

  // SIGTERM or SIGKILL the holder every 0.3 to 1.5 s while the writers write (and until each was
  // done often enough); restart the broker once, a third into the run.
  const auto restart = sink.restart_command();
  std::optional<pid_t> restart_pid;
  std::optional<int> restart_status;
  std::optional<steady::time_point> broker_back_at;
  const auto restart_at = started + std::chrono::milliseconds(seconds * 1000 / 3);
  const auto deadline = started + std::chrono::seconds(seconds + 180);
  auto next_action = steady::now() + std::chrono::milliseconds(uniform(300, 1500));
  bool out_of_time = false;
  while (writers_running() || terms < min_terms || kills < min_kills || (!restart.empty() && !restart_pid)) {
    if (steady::now() >= deadline || failures.size() >= 10) {
      out_of_time = steady::now() >= deadline;
      break;
    }
    reap();
    ensure_standby();
    if (!restart.empty() && !restart_pid && steady::now() >= restart_at) {
      std::cout << "restarting the broker (" << ms_since(started) << " ms into the run)" << std::endl;
      restart_pid = children.spawn(restart, dir_ / "broker-restart.log", dir_ / "broker-restart.log");
    }
    if (restart_pid && !restart_status && (restart_status = children.poll(*restart_pid)))
      broker_back_at = steady::now();
    if (steady::now() < next_action) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    // Each kind at random, but the one still short of its minimum once the writers are done.
    bool term = uniform(0, 1) == 1;
    if (writers_done_at && terms >= min_terms) term = false;
    if (writers_done_at && kills >= min_kills) term = true;
    if (!cell.sigkill) term = true;
    if (!stop_holder(term)) {
      std::this_thread::sleep_for(50ms);
      continue;
    }
    ensure_standby();
    next_action = steady::now() + std::chrono::milliseconds(uniform(300, 1500));
  }
  EXPECT_FALSE(out_of_time) << "the run ran out of time after " << terms << " SIGTERMs and " << kills << " SIGKILLs";
  for (std::size_t i = 0; i < writer_pids.size(); ++i) {
    const auto w = static_cast<std::int64_t>(i + 1);
    if (!writer_status.count(w)) {
      auto s = children.wait(writer_pids[i], 60s);
      ASSERT_TRUE(s.has_value()) << "writer " << w << " did not finish";
      writer_status[w] = *s;
    }
    ASSERT_TRUE(WIFEXITED(writer_status[w]) && WEXITSTATUS(writer_status[w]) == 0)
        << "writer " << w << ": " << describe_status(writer_status[w]) << "\n"
        << read_text(dir_ / ("writer-" + std::to_string(w) + ".err"));
  }
  writers_running();
  if (restart_pid && !restart_status) {
    restart_status = children.wait(*restart_pid, 180s);
    broker_back_at = steady::now();
  }
  if (restart_pid) {
    EXPECT_TRUE(restart_status && WIFEXITED(*restart_status) && WEXITSTATUS(*restart_status) == 0)
        << "scripts/kafka/restart.sh failed: " << tail_of(read_text(dir_ / "broker-restart.log"));
  }

  // The consumer's lag, as `outbox status --json` shows it, must come back to 0 now that nothing
  // is written any more: a checkpoint that stopped moving never does.
  std::int64_t lag = -1;
  std::string last_status;
  // Measured from when the writers stopped and the broker was back, whichever came last.
  const auto quiet_since = std::max(*writers_done_at, broker_back_at.value_or(*writers_done_at));
  std::optional<std::int64_t> lag_zero_ms;
  {
    const auto t0 = steady::now();
    while (steady::now() - t0 < std::chrono::seconds(lag_bound)) {
      reap();
      ensure_standby();
      const auto out = dir_ / "status.json";
      fs::remove(out);
      const pid_t pid = children.spawn({OUTBOX_CLI, "status", "--store", store_uri, "--outbox", "crash", "--json"}, out,
                                       dir_ / "status.err");
      const auto s = children.wait(pid, 30s);
      last_status = read_text(out);
      if (s && WIFEXITED(*s) && WEXITSTATUS(*s) == 0) {
        const auto j = nlohmann::json::parse(last_status, nullptr, false);
        if (j.is_array() && !j.empty()) {
          for (const auto& c : j[0].value("consumers", nlohmann::json::array())) {
            if (c.value("name", "") == "default") lag = c.value("lag_messages", std::int64_t{-1});
          }
        }
      }
      if (lag == 0) {
        lag_zero_ms = ms_since(quiet_since);
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
  }
  if (!lag_zero_ms) {
    std::string logs;
    for (const auto& r : live) logs += "\nrelay " + std::to_string(r.number) + ": " + tail_of(read_text(r.log), 1500);
    fail("the consumer's lag did not come back to 0 within " + std::to_string(lag_bound) +
         " s after the writers stopped" + (broker_back_at ? " and the broker was back" : "") +
         " (a stuck checkpoint); last `outbox status --json`: " + last_status + logs);
  }

  // The end: SIGTERM the holder (its standby takes over), then the new holder.
  for (int i = 0; i < 2; ++i) {
    reap();
    const auto h = holder();
    if (!h) wait_for_holder(live.empty() ? 0 : live.front().pid, std::chrono::seconds(lease_ttl + 20));
    if (!stop_holder(true)) break;
  }
  for (const auto& r : live) {  // whatever is left (a standby) stops too
    children.signal(r.pid, SIGTERM);
    const auto s = children.wait(r.pid, std::chrono::seconds(shutdown_timeout + 20));
    if (!s || !WIFEXITED(*s) || WEXITSTATUS(*s) != 0) {
      fail("the last standby, relay " + std::to_string(r.number) + ", did not exit 0 on SIGTERM (" +
           (s ? describe_status(*s) : std::string("still running")) + ")");
    }
  }
  live.clear();
  if (const auto h = holder()) fail("after every relay stopped, pid " + std::to_string(*h) + " still holds the lease");
  {
    std::ofstream all(dir_ / "relays.log");
    for (int n = 1; n <= relays_started; ++n) {
      all << "--- relay " << n << "\n" << read_text(dir_ / ("relay-" + std::to_string(n) + ".log"));
    }
  }

  // Ground truth, the writers' own tallies, and what the sink received.
  std::vector<crash::Committed> committed;
  ASSERT_NO_THROW(committed = backend.committed());
  std::map<std::int64_t, std::int64_t> transactions;
  std::int64_t committed_txns = 0, rolled_back_txns = 0, rolled_back_messages = 0, put_and_commit_txns = 0;
  for (std::int64_t w = 1; w <= all_writers; ++w) {
    std::istringstream summary(read_text(dir_ / ("writer-" + std::to_string(w) + ".out")));
    std::string word;
    std::int64_t id = 0, ct = 0, rt = 0, cm = 0, rm = 0, re = 0, pc = 0;
    summary >> word >> id >> word >> ct >> word >> rt >> word >> cm >> word >> rm >> word >> re >> word >> pc;
    ASSERT_TRUE(summary && id == w) << "writer " << w << " printed no summary";
    transactions[w] = ct + rt;
    const auto messages =
        std::count_if(committed.begin(), committed.end(), [&](const auto& c) { return c.writer == w; });
    EXPECT_EQ(messages, cm) << "writer " << w << ": committed messages in its table";
    committed_txns += ct;
    rolled_back_txns += rt;
    rolled_back_messages += rm;
    put_and_commit_txns += pc;
  }
  Delivered delivered;
  ASSERT_NO_THROW(delivered = sink.delivered(static_cast<std::int64_t>(committed.size())));
  const auto options = sink.verify_options(backend.verify_options());
  const auto v = crash::verify(committed, transactions, delivered.lines, delivered.lives, options);
  const auto st = store->status("crash");

  std::cout << "e2e " << sink.name() << " cell result:\n"
            << "  writers: " << committed_txns << " transactions committed (" << put_and_commit_txns
            << " with put_and_commit), " << rolled_back_txns << " rolled back; " << v.committed
            << " messages committed, " << rolled_back_messages << " rolled back\n"
            << "  delivered: " << v.delivered << " records, " << v.distinct << " distinct, " << v.duplicates
            << " duplicates; lost " << v.lost << ", rolled-back delivered " << v.from_rolled_back << ", unknown "
            << v.unknown << ", mismatched " << v.mismatched << "\n"
            << "  order: per-key reorders " << v.key_order_violations << ", position-order violations "
            << v.position_order_violations << ", within-one-relay violations " << v.life_order_violations;
  if (options.one_delivery_sequence)
    std::cout << ", first deliveries after a higher position " << v.position_inversions;
  std::cout << "; " << delivered.dropped_tails << " partial last lines of killed relays dropped\n"
            << "  relays: " << relays_started << " started; SIGKILL " << kills << ", SIGTERM " << terms << " ("
            << terms_exit_0 << " exit 0, " << terms_released << " released the lease); accepted stops "
            << accepted_stops << "\n"
            << "  SIGTERM to exit: " << spread(term_stop_ms) << "\n"
            << "  standby takeover after SIGTERM: " << spread(term_takeover_ms) << "\n"
            << "  standby takeover after SIGKILL: " << spread(kill_takeover_ms) << " (lease TTL " << lease_ttl
            << " s)\n"
            << "  lag back to 0: "
            << (lag_zero_ms ? std::to_string(*lag_zero_ms) + " ms after the writers stopped" +
                                  (broker_back_at ? " and the broker was back" : "")
                            : std::string("never"))
            << (restart.empty() ? std::string() : std::string("; broker restarted once")) << "\n"
            << "  outbox at the end: " << st.count << " messages of " << v.committed << " committed"
            << (cell.retention_max_count > 0 ? " (retention on)" : "") << ", " << st.dropped << " dropped" << std::endl;
  RecordProperty("committed_messages", std::to_string(v.committed));
  RecordProperty("duplicates", std::to_string(v.duplicates));
  RecordProperty("sigterms", std::to_string(terms));
  RecordProperty("sigkills", std::to_string(kills));

  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_EQ(v.lost, 0);
  EXPECT_EQ(v.from_rolled_back, 0);
  EXPECT_EQ(v.unknown, 0);
  EXPECT_EQ(v.mismatched, 0);
  EXPECT_EQ(v.key_order_violations, 0);
  EXPECT_EQ(v.position_order_violations, 0);
  EXPECT_EQ(v.life_order_violations, 0);
  EXPECT_EQ(v.unparseable, 0);
  EXPECT_EQ(v.ground_truth_errors, 0);
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_GT(rolled_back_txns, 0) << "nothing was rolled back: the test did not test that";
  EXPECT_GE(terms, min_terms);
  EXPECT_GE(kills, min_kills);
  if (!cell.sigkill) {
    EXPECT_EQ(v.duplicates, 0) << "relays stopped only by SIGTERM: a message delivered twice was not checkpointed "
                                  "after its acknowledgement, or a successor resumed before it";
  }
  EXPECT_EQ(terms_exit_0, terms) << "every SIGTERM must end the relay with exit code 0";
  EXPECT_EQ(terms_released, terms) << "every SIGTERM must release the lease";
  EXPECT_TRUE(lag_zero_ms.has_value()) << "the lag never came back to 0";
  EXPECT_EQ(st.dead_letters, 0);
  EXPECT_EQ(st.dropped, 0) << "retention without --hard-max-count never drops an unpublished message";
  if (cell.retention_max_count > 0) {
    EXPECT_LT(st.count, static_cast<std::int64_t>(v.committed))
        << "retention never deleted anything: the cell did not test it beside delivery";
  }
}

}  // namespace outbox::e2e

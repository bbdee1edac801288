// Benchmarks 3 and 4 - the relay process under a steady load written by another process:
//  3. commit -> sink-acknowledged latency (p50/p99): outbox_bench_writer (a child process) commits
//     one message per transaction at --rate and records when each COMMIT returned; this process
//     runs outbox::Relay into a null-like sink that records when it acknowledges each message.
//     Both use CLOCK_MONOTONIC (one clock for the whole machine), joined by position afterwards.
//  4. this process's peak RSS (VmHWM) after that load, and its CPU use while the relay then sits
//     idle with no incoming messages for --idle-seconds.
// --postgres: the same against PostgreSQL (a fresh database on --server, default $OUTBOX_PG_URI);
// --rate-of-max F: first measure the writer's maximum rate (--probe-seconds flat out, into another
// outbox), then load at F times that; --poll: PostgreSQL without wake-ups (the writer's
// wake_relay=false, the relay's StoreOptions::wakeups=false: it polls every 1-100 ms); --wal:
// PostgreSQL in WAL mode (the outboxes are made in that mode before the writer starts, so its put
// emits logical decoding messages and the relay reads them from a slot; the server needs
// wal_level=logical, as bench/run_postgres.sh starts it). Positions are then WAL positions, so the
// join by position goes through a map. --max-count N: the relay runs retention (keep N published
// messages) every --retention-interval seconds, as `outbox relay --max-count N` does every 10 s.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#ifdef OUTBOX_WITH_POSTGRES
#include "outbox/postgres.hpp"
#include "pg_util.hpp"
#endif

namespace {

constexpr const char* kOutbox = "lat";

// Acknowledges every message at once (like null:) and records when.
class LatencySink final : public outbox::Sink {
 public:
  struct Ack {
    std::int64_t position;
    std::int64_t ack_ns;             // CLOCK_MONOTONIC at report()
    std::int64_t created_to_ack_us;  // CLOCK_REALTIME now - message.created (set by put)
  };

  explicit LatencySink(std::size_t expected) { acks_.reserve(expected); }
  std::string describe() const override { return "latency-recorder"; }
  std::int64_t acknowledged() const { return count_.load(std::memory_order_acquire); }
  std::int64_t publishes() const { return publishes_.load(std::memory_order_acquire); }
  const std::vector<Ack>& acks() const { return acks_; }  // after the relay stopped

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    for (const auto& m : batch) {
      const std::int64_t ack_ns = bench::mono_ns();
      const std::int64_t now_us = outbox::now().time_since_epoch().count();
      acks_.push_back({m.position, ack_ns, now_us - m.created.time_since_epoch().count()});
      report(m.position, outbox::Outcome::ok);
    }
    publishes_.fetch_add(1, std::memory_order_release);
    count_.store(static_cast<std::int64_t>(acks_.size()), std::memory_order_release);
  }

 private:
  std::vector<Ack> acks_;
  std::atomic<std::int64_t> count_{0};
  std::atomic<std::int64_t> publishes_{0};
};

// Where the relay thread spends its time: intervals inside Store::save_checkpoint and inside
// Tail::next (waiting for, then reading, commits), recorded by thin forwarding wrappers. Saves the
// relay makes from its saver thread (stores that allow it) are recorded apart: they do not hold
// up the relay thread.
struct Interval {
  std::int64_t start_ns, end_ns;
};

class TimingTail final : public outbox::Tail {
 public:
  TimingTail(std::unique_ptr<outbox::Tail> inner, std::vector<Interval>* out) : inner_(std::move(inner)), out_(out) {}
  std::vector<outbox::Message> next(std::chrono::milliseconds wait) override {
    const std::int64_t t0 = bench::mono_ns();
    auto batch = inner_->next(wait);
    out_->push_back({t0, bench::mono_ns()});
    return batch;
  }
  void close() override { inner_->close(); }
  bool closed() const override { return inner_->closed(); }

 private:
  std::unique_ptr<outbox::Tail> inner_;
  std::vector<Interval>* out_;
};

class TimingStore final : public outbox::Store {
 public:
  explicit TimingStore(std::unique_ptr<outbox::Store> inner) : inner_(std::move(inner)) {
    saves_.reserve(1 << 16);
    nexts_.reserve(1 << 16);
  }
  // Read these after the relay stopped.
  const std::vector<Interval>& saves() const { return saves_; }
  const std::vector<Interval>& relay_thread_saves() const { return relay_saves_; }
  const std::vector<Interval>& retentions() const { return retentions_; }
  const std::vector<Interval>& relay_thread_retentions() const { return relay_retentions_; }
  const std::vector<Interval>& nexts() const { return nexts_; }

  void init(const std::string& o) override { inner_->init(o); }
  std::vector<std::string> outboxes() override { return inner_->outboxes(); }
  outbox::Message put(const outbox::SchemaRegistry& r, outbox::Message m) override {
    return inner_->put(r, std::move(m));
  }
  std::unique_ptr<outbox::Tail> tail(const std::string& o, const outbox::Cursor& from,
                                     const outbox::TailOptions& options) override {
    relay_thread_ = std::this_thread::get_id();  // the relay opens its tail on its own thread
    return std::make_unique<TimingTail>(inner_->tail(o, from, options), &nexts_);
  }
  std::string checkpoint_before(std::int64_t p) override { return inner_->checkpoint_before(p); }
  std::string checkpoint_at_end(const std::string& o) override { return inner_->checkpoint_at_end(o); }
  std::optional<std::string> acquire(const outbox::ConsumerRef& ref, std::chrono::seconds ttl) override {
    return inner_->acquire(ref, ttl);
  }
  bool concurrent_relay_writes() const override { return inner_->concurrent_relay_writes(); }
  void save_checkpoint(const outbox::ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override {
    const std::int64_t t0 = bench::mono_ns();
    inner_->save_checkpoint(ref, checkpoint, ttl, health);
    saves_.push_back({t0, bench::mono_ns()});
    if (std::this_thread::get_id() == relay_thread_) relay_saves_.push_back(saves_.back());
  }
  void release(const outbox::ConsumerRef& ref) override { inner_->release(ref); }
  void seek(const std::string& o, const std::string& c, const std::string& checkpoint) override {
    inner_->seek(o, c, checkpoint);
  }
  void dead_letter(const std::string& c, const outbox::Message& m, const std::string& e, int attempts) override {
    inner_->dead_letter(c, m, e, attempts);
  }
  std::vector<outbox::DeadLetter> dead_letters(const std::string& o, std::size_t limit) override {
    return inner_->dead_letters(o, limit);
  }
  std::vector<outbox::ReplayedDeadLetter> replay_dead_letters(const std::string& o, const outbox::DeadLetterFilter& w,
                                                              bool force) override {
    return inner_->replay_dead_letters(o, w, force);
  }
  std::vector<outbox::DeadLetter> purge_dead_letters(const std::string& o, const outbox::DeadLetterFilter& w,
                                                     bool force) override {
    return inner_->purge_dead_letters(o, w, force);
  }
  outbox::RetentionResult enforce_retention(const std::string& o, const outbox::RetentionPolicy& p) override {
    const std::int64_t t0 = bench::mono_ns();
    auto r = inner_->enforce_retention(o, p);
    retentions_.push_back({t0, bench::mono_ns()});
    if (std::this_thread::get_id() == relay_thread_) relay_retentions_.push_back(retentions_.back());
    return r;
  }
  outbox::OutboxStatus status(const std::string& o) override { return inner_->status(o); }

 private:
  std::unique_ptr<outbox::Store> inner_;
  std::vector<Interval> saves_, nexts_;
  std::vector<Interval> relay_saves_;                    // the saves made on the relay thread (one thread: in order)
  std::vector<Interval> retentions_, relay_retentions_;  // retention rounds: all, and those on the relay thread
  std::atomic<std::thread::id> relay_thread_{};          // set in tail(), read by saves on any thread
};

// Nanoseconds of [from, to) covered by `intervals` (sorted, not overlapping: one thread's calls).
std::int64_t overlap(const std::vector<Interval>& intervals, std::int64_t from, std::int64_t to) {
  auto it = std::lower_bound(intervals.begin(), intervals.end(), from,
                             [](const Interval& i, std::int64_t t) { return i.end_ns <= t; });
  std::int64_t total = 0;
  for (; it != intervals.end() && it->start_ns < to; ++it) {
    total += std::min(it->end_ns, to) - std::max(it->start_ns, from);
  }
  return total;
}

struct Record {  // as written by outbox_bench_writer
  std::int64_t position;
  std::int64_t begin_ns;
  std::int64_t commit_ns;
};

std::string self_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return std::filesystem::path(buf).parent_path().string();
}

// Runs the writer process with `args` (built before fork(): the child of a multi-threaded process
// must not allocate) and reads back its records; false if it failed.
bool run_writer(const std::vector<std::string>& args, const std::string& records_path, std::vector<Record>& records) {
  std::vector<char*> argv_child;
  for (const auto& a : args) argv_child.push_back(const_cast<char*>(a.c_str()));
  argv_child.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child == 0) {
    execv(argv_child[0], argv_child.data());
    static const char msg[] = "cannot run outbox_bench_writer (pass --writer=PATH)\n";
    [[maybe_unused]] ssize_t n = write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "writer failed (status %d)\n", status);
    return false;
  }
  records.resize(std::filesystem::file_size(records_path) / sizeof(Record));
  std::ifstream in(records_path, std::ios::binary);
  in.read(reinterpret_cast<char*>(records.data()), static_cast<std::streamsize>(records.size() * sizeof(Record)));
  return true;
}

void print_distribution(const char* what, const std::vector<double>& ms) {
  double sum = 0;
  std::int64_t over5 = 0, over100 = 0, negative = 0;
  for (double v : ms) {
    sum += v;
    over5 += v > 5;
    over100 += v > 100;
    negative += v < 0;
  }
  std::printf(
      "  %s (%zu samples): p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, mean %.3f ms;"
      " %lld > 5 ms, %lld > 100 ms, %lld < 0\n",
      what, ms.size(), bench::percentile(ms, 50), bench::percentile(ms, 90), bench::percentile(ms, 99),
      bench::percentile(ms, 99.9), bench::percentile(ms, 100), ms.empty() ? 0.0 : sum / ms.size(),
      static_cast<long long>(over5), static_cast<long long>(over100), static_cast<long long>(negative));
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"dir", "/tmp"},
                  {"rate", "1000"},
                  {"seconds", "15"},
                  {"warmup", "1"},
                  {"idle-seconds", "10"},
                  {"sync", "FULL"},
                  {"payload-bytes", "200"},
                  {"writer", ""},
                  {"postgres", "false"},
                  {"server", ""},
                  {"rate-of-max", "0"},
                  {"poll", "false"},
                  {"wal", "false"},
                  {"probe-seconds", "3"},
                  {"max-count", "0"},
                  {"retention-interval", "1"},
                  {"keep", "false"}},
                 "outbox_bench_latency: commit->ack latency, peak RSS under load and idle CPU of the relay.\n"
                 "The writer is outbox_bench_writer (next to this program unless --writer names it).");
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_latency%s\n", outbox::redact_uri(f.command_line()).c_str());
  const auto dir = bench::make_run_dir(f.str("dir"), "latency");
  bench::print_machine(dir);
  const std::string db_path = (dir / "outbox.db").string();
  const std::string records_path = (dir / "writer.records").string();
  const std::string writer_bin = f.str("writer").empty() ? self_dir() + "/outbox_bench_writer" : f.str("writer");
  double rate = f.num("rate");
  const double seconds = f.num("seconds");
  const bool wal = f.flag("wal");
  const bool postgres = f.flag("postgres") || wal;
  std::string store_uri = "sqlite:" + db_path, writer_target = "--db=" + db_path;
#ifdef OUTBOX_WITH_POSTGRES
  std::unique_ptr<bench::pg::Database> pg;
  if (postgres) {
    pg = std::make_unique<bench::pg::Database>(f.str("server").empty() ? bench::pg::server_from_env() : f.str("server"),
                                               "bench_latency");
    std::printf("server: %s\n", pg->settings().c_str());
    store_uri = pg->uri();
    writer_target = "--store=" + pg->uri();
    if (wal) {
      // The mode is the outbox's, stored at init: the writer's and the relay's init then keep it.
      bench::pg::Conn c(pg->uri());
      for (const char* name : {kOutbox, "lat_probe"}) {
        outbox::postgres::Outbox(name, outbox::SchemaRegistry::from_json({{"tick", {{"type", "object"}}}}),
                                 {.mode = outbox::postgres::Mode::wal})
            .init(c);
      }
    }
  }
#else
  if (postgres) {
    std::fprintf(stderr, "--postgres: this build has no PostgreSQL store\n");
    return 2;
  }
#endif
  const std::string wake_flag = std::string("--wake=") + (f.flag("poll") ? "false" : "true");
  const std::string wal_flag = std::string("--wal=") + (wal ? "true" : "false");
  if (f.num("rate-of-max") > 0) {
    // The writer flat out (--rate=0) into an outbox of its own, no relay yet.
    const std::string probe_path = (dir / "probe.records").string();
    std::vector<Record> probe;
    if (!run_writer({writer_bin, writer_target, wake_flag, wal_flag, "--outbox=lat_probe", "--rate=0",
                     "--seconds=" + f.str("probe-seconds"), "--sync=" + f.str("sync"),
                     "--payload-bytes=" + f.str("payload-bytes"), "--out=" + probe_path},
                    probe_path, probe) ||
        probe.size() < 2) {
      return 1;
    }
    const double max_rate = static_cast<double>(probe.size()) /
                            (static_cast<double>(probe.back().commit_ns - probe.front().begin_ns) / 1e9);
    rate = f.num("rate-of-max") * max_rate;
    std::printf(
        "probe: the writer's maximum rate, one message per transaction: %.0f msg/s (%zu transactions); "
        "load at %.0f%% of it: %.0f msg/s\n",
        max_rate, probe.size(), 100 * f.num("rate-of-max"), rate);
  }

  outbox::StoreOptions store_options;
  store_options.wakeups = !f.flag("poll");
  TimingStore store(outbox::open_store(store_uri, store_options));
  store.init(kOutbox);  // WAL mode and the outbox's tables, before either side starts
  LatencySink sink(static_cast<std::size_t>(rate * seconds) + 1024);
  outbox::RelayOptions options;
  options.outbox = kOutbox;
  options.consumer = "bench";
  if (f.num("max-count") > 0) {
    // Retention as `outbox relay --max-count N` runs it, at --retention-interval seconds (the
    // relay's default is 10): each round is a write transaction that competes with the writer.
    outbox::RetentionPolicy retention;
    retention.max_count = static_cast<std::int64_t>(f.num("max-count"));
    options.retention = retention;
    options.retention_interval = std::chrono::seconds(static_cast<std::int64_t>(f.num("retention-interval")));
  }
  outbox::Relay relay(store, sink, options);  // all other options at their defaults

  const std::int64_t hwm_setup = bench::proc_status_kb("VmHWM");
  std::thread relay_thread([&] {
    try {
      relay.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "relay failed: %s\n", e.what());
      std::_Exit(1);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // lease taken, tail open, waiting

  std::printf(
      "load: writer process commits one message per transaction at %.0f msg/s for %.0f s "
      "(%s); relay (default options) -> recording null-like sink, in this process\n",
      rate, seconds,
      wal        ? "PostgreSQL WAL mode, synchronous_commit=on; the relay streams from its slot"
      : postgres ? (f.flag("poll") ? "PostgreSQL, synchronous_commit=on; no wake-ups: the relay polls"
                                   : "PostgreSQL, synchronous_commit=on; wake-ups")
                 : ("synchronous=" + f.str("sync")).c_str());
  std::fflush(stdout);
  const bench::CpuTimes cpu_load0 = bench::cpu_self();
  const std::int64_t load0 = bench::mono_ns();
  std::vector<Record> records;
  if (!run_writer({writer_bin, writer_target, wake_flag, wal_flag, "--outbox=" + std::string(kOutbox),
                   "--rate=" + std::to_string(rate), "--seconds=" + f.str("seconds"), "--sync=" + f.str("sync"),
                   "--payload-bytes=" + f.str("payload-bytes"), "--out=" + records_path},
                  records_path, records)) {
    relay.stop();
    relay_thread.join();
    return 1;
  }
  const auto expected = static_cast<std::int64_t>(records.size());
  const std::int64_t drain_deadline = bench::mono_ns() + 10'000'000'000;
  while (sink.acknowledged() < expected && bench::mono_ns() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double load_wall = bench::seconds_since(load0);
  const bench::CpuTimes cpu_load1 = bench::cpu_self();
  const std::int64_t hwm_load = bench::proc_status_kb("VmHWM");
  const std::int64_t rss_load = bench::proc_status_kb("VmRSS");

  // Idle: nothing is written any more; the relay keeps running.
  const double idle_seconds = f.num("idle-seconds");
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the last checkpoint saves settle
  const bench::CpuTimes idle0 = bench::cpu_self();
  const std::int64_t idle_start = bench::mono_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_seconds));
  const bench::CpuTimes idle1 = bench::cpu_self();
  const double idle_wall = bench::seconds_since(idle_start);
  const std::int64_t hwm_end = bench::proc_status_kb("VmHWM");
  relay.stop();
  relay_thread.join();
  const auto stats = relay.stats();

  // Join acknowledgements with commit times by position (table mode: 1..N; WAL mode: WAL positions).
  std::unordered_map<std::int64_t, std::int64_t> commit_at;  // position -> COMMIT returned, ns
  commit_at.reserve(records.size());
  for (const auto& r : records) commit_at.emplace(r.position, r.commit_ns);
  const std::int64_t warm_until =
      records.empty() ? 0 : records.front().commit_ns + static_cast<std::int64_t>(f.num("warmup") * 1e9);
  std::vector<double> commit_to_ack, created_to_ack;
  std::vector<std::pair<std::int64_t, std::int64_t>> slow_candidates;  // (commit, ack) in ns
  std::int64_t unmatched = 0, duplicates = 0;
  std::unordered_set<std::int64_t> seen;
  seen.reserve(records.size());
  for (const auto& a : sink.acks()) {
    const auto it = commit_at.find(a.position);
    if (it == commit_at.end()) {
      ++unmatched;
      continue;
    }
    if (!seen.insert(a.position).second) {
      ++duplicates;
      continue;
    }
    const std::int64_t committed = it->second;
    if (committed < warm_until) continue;
    commit_to_ack.push_back(static_cast<double>(a.ack_ns - committed) / 1e6);
    slow_candidates.emplace_back(committed, a.ack_ns);
    created_to_ack.push_back(static_cast<double>(a.created_to_ack_us) / 1e3);
  }

  std::printf("\nresults (first %.1f s of commits excluded as warm-up):\n", f.num("warmup"));
  std::printf(
      "  relay acknowledged %lld of %lld messages in %lld sink publishes (mean %.2f messages each), "
      "%lld checkpoint saves; %lld unmatched, %lld duplicates\n",
      static_cast<long long>(sink.acknowledged()), static_cast<long long>(expected),
      static_cast<long long>(sink.publishes()),
      sink.publishes() ? static_cast<double>(sink.acknowledged()) / static_cast<double>(sink.publishes()) : 0.0,
      static_cast<long long>(stats.checkpoints), static_cast<long long>(unmatched), static_cast<long long>(duplicates));
  print_distribution("COMMIT returned -> sink ack", commit_to_ack);
  bench::append_samples(std::string("commit -> acknowledged latency, ") +
                            (wal        ? "PostgreSQL WAL mode"
                             : postgres ? "PostgreSQL"
                                        : "SQLite synchronous=" + f.str("sync")) +
                            " source (in-process sink)",
                        commit_to_ack);
  print_distribution("created (put) -> sink ack  ", created_to_ack);
  {
    std::vector<double> save_ms;
    double sum = 0;
    for (const auto& i : store.saves()) {
      save_ms.push_back(static_cast<double>(i.end_ns - i.start_ns) / 1e6);
      sum += save_ms.back();
    }
    std::printf(
        "  relay's checkpoint saves (Store::save_checkpoint): %zu (%zu on the relay thread), p50 %.3f ms, p99 %.3f ms,"
        " max %.3f ms, %.2f s in all\n",
        save_ms.size(), store.relay_thread_saves().size(), bench::percentile(save_ms, 50),
        bench::percentile(save_ms, 99), bench::percentile(save_ms, 100), sum / 1000);
    if (options.retention) {
      std::vector<double> retention_ms;
      for (const auto& i : store.retentions()) retention_ms.push_back(static_cast<double>(i.end_ns - i.start_ns) / 1e6);
      std::printf(
          "  retention rounds (--max-count %.0f every %.0f s): %zu (%zu on the relay thread), p50 %.3f ms, max %.3f ms;"
          " %lld messages deleted\n",
          f.num("max-count"), f.num("retention-interval"), retention_ms.size(), store.relay_thread_retentions().size(),
          bench::percentile(retention_ms, 50), bench::percentile(retention_ms, 100),
          static_cast<long long>(stats.retention_deleted));
    }
    // The slowest 1%: what was the relay thread doing between COMMIT and the acknowledgement?
    const double p99_ms = bench::percentile(commit_to_ack, 99);
    double n = 0, lat = 0, in_save = 0, in_next = 0, in_retention = 0, beside_retention = 0;
    for (const auto& [committed, acked] : slow_candidates) {
      const double ms = static_cast<double>(acked - committed) / 1e6;
      if (ms < p99_ms || ms <= 0) continue;
      n += 1;
      lat += ms;
      in_save += static_cast<double>(overlap(store.relay_thread_saves(), committed, acked)) / 1e6;
      in_retention += static_cast<double>(overlap(store.relay_thread_retentions(), committed, acked)) / 1e6;
      beside_retention += static_cast<double>(overlap(store.retentions(), committed, acked)) / 1e6;
      in_next += static_cast<double>(overlap(store.nexts(), committed, acked)) / 1e6;
    }
    if (n > 0) {
      std::printf(
          "  the slowest 1%% (%.0f messages, commit->ack >= %.3f ms, mean %.3f ms): between COMMIT and ack the relay"
          " thread was on average %.3f ms in save_checkpoint (on the relay thread), %.3f ms in retention (on the relay"
          " thread), %.3f ms in Tail::next (waiting for the commit and reading it), %.3f ms elsewhere (sink,"
          " bookkeeping)\n",
          n, p99_ms, lat / n, in_save / n, in_retention / n, in_next / n, (lat - in_save - in_retention - in_next) / n);
      if (options.retention) {
        std::printf("  of their time, %.3f ms on average overlapped a retention round (on any thread)\n",
                    beside_retention / n);
      }
    }
  }
  const double p50 = bench::percentile(commit_to_ack, 50), p99 = bench::percentile(commit_to_ack, 99);
  const double p50_target = postgres ? 2 : 0.5, p99_target = postgres ? 10 : 5;
  std::printf("  LATENCY commit->ack p50: %.3f ms   target <= %g ms: %s\n", p50, p50_target,
              p50 <= p50_target ? "met" : "MISSED");
  std::printf("  LATENCY commit->ack p99: %.3f ms   target <= %g ms: %s\n", p99, p99_target,
              p99 <= p99_target ? "met" : "MISSED");
  const double load_cpu = cpu_load1.total() - cpu_load0.total();
  std::printf("  relay process CPU under load: %.2f s in %.2f s = %.1f%% of one core (user %.2f s, system %.2f s)\n",
              load_cpu, load_wall, 100 * load_cpu / load_wall, cpu_load1.user_s - cpu_load0.user_s,
              cpu_load1.system_s - cpu_load0.system_s);
  std::printf(
      "  PEAK RSS (VmHWM) of the relay process after the load: %lld kB = %.1f MB   target <= 30 MB: %s"
      "   (VmHWM after setup, before the relay started: %lld kB; VmRSS after load: %lld kB;"
      " VmHWM at the end: %lld kB)\n",
      static_cast<long long>(hwm_load), static_cast<double>(hwm_load) / 1024, hwm_load <= 30 * 1024 ? "met" : "MISSED",
      static_cast<long long>(hwm_setup), static_cast<long long>(rss_load), static_cast<long long>(hwm_end));
  const double idle_cpu = idle1.total() - idle0.total();
  std::printf(
      "  IDLE CPU of the relay process: %.4f s in %.2f s = %.3f%% of one core (user %.4f s, system %.4f s; "
      "%ld voluntary context switches = %.1f wake-ups/s)   target < 1%%: %s\n",
      idle_cpu, idle_wall, 100 * idle_cpu / idle_wall, idle1.user_s - idle0.user_s, idle1.system_s - idle0.system_s,
      idle1.voluntary_switches - idle0.voluntary_switches,
      static_cast<double>(idle1.voluntary_switches - idle0.voluntary_switches) / idle_wall,
      100 * idle_cpu / idle_wall < 1 ? "met" : "MISSED");
  if (!f.flag("keep")) std::filesystem::remove_all(dir);
#ifdef OUTBOX_WITH_POSTGRES
  if (wal) {
    // Each consumer's slot would keep its WAL for ever, and a database with one cannot be dropped.
    bench::pg::Conn c(pg->uri());
    bench::pg::exec(c,
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE database = current_database() AND NOT active");
  }
#endif
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

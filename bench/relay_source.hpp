// The source side that every relay -> broker benchmark shares (Kafka, Redis, NATS, webhook): an
// outbox "bench" of order messages in SQLite or (--postgres) PostgreSQL, filled in bulk or written
// at a steady rate by a separate process; the relay run over it once to a sink (throughput) or
// alongside that writer behind a TimingSink (commit -> acknowledged latency). Each benchmark only
// adds its broker's raw client and its own flags.
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#include "timing_sink.hpp"
#ifdef OUTBOX_BENCH_POSTGRES_SOURCE
#include "outbox/postgres.hpp"
#include "pg_util.hpp"
#endif

namespace bench {

// The "pad" string that makes {"ordernr":N,"pad":"xxx..."} about `bytes` long.
inline std::string payload_text(std::size_t bytes) { return std::string(bytes > 40 ? bytes - 40 : 1, 'x'); }

inline outbox::SchemaRegistry order_registry() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(R"({"order_created": {"type": "object"}})"));
}

// Order `ordernr`, keyed over 64 keys (so per-key order is exercised, as in a service).
inline outbox::Message order_message(std::int64_t ordernr, const std::string& pad) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(ordernr % 64);
  m.data = {{"ordernr", ordernr}, {"pad", pad}};
  return m;
}

// Writes into the "bench" outbox of the source store over a connection of its own (also in a
// forked child, so it must not share anything the parent opened). Creates the outbox on open.
class OutboxWriter {
 public:
  virtual ~OutboxWriter() = default;
  virtual void begin() = 0;
  virtual void put(outbox::Message m) = 0;
  virtual void commit() = 0;
  // After a bulk fill: what the database would soon do by itself.
  virtual void settle() {}
};

class SqliteOutboxWriter final : public OutboxWriter {
 public:
  explicit SqliteOutboxWriter(const std::string& path) : box_("bench", order_registry()) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error(path + ": " + sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 5000);
    box_.init(db_);
    writer_.emplace(box_.writer(db_));
  }
  ~SqliteOutboxWriter() override {
    writer_.reset();
    sqlite3_close(db_);
  }
  void begin() override { exec("BEGIN"); }
  void put(outbox::Message m) override { writer_->put(std::move(m)); }
  void commit() override { exec("COMMIT"); }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  outbox::sqlite::Outbox box_;
  std::optional<outbox::sqlite::Writer> writer_;
};

#ifdef OUTBOX_BENCH_POSTGRES_SOURCE
class PostgresOutboxWriter final : public OutboxWriter {
 public:
  explicit PostgresOutboxWriter(const std::string& uri) : conn_(uri), box_("bench", order_registry()) {
    pg::exec(conn_, "SET synchronous_commit = on");
    box_.init(conn_);
  }
  void begin() override { pg::exec(conn_, "BEGIN"); }
  void put(outbox::Message m) override { box_.put(conn_, std::move(m)); }
  void commit() override { pg::exec(conn_, "COMMIT"); }
  void settle() override { pg::exec(conn_, "VACUUM ANALYZE outbox_bench"); }  // as autovacuum would, soon

 private:
  pg::Conn conn_;
  outbox::postgres::Outbox box_;
};
#endif

inline bool is_sqlite(const std::string& store_uri) { return store_uri.rfind("sqlite:", 0) == 0; }

inline std::unique_ptr<OutboxWriter> open_writer(const std::string& store_uri) {
  if (is_sqlite(store_uri)) return std::make_unique<SqliteOutboxWriter>(store_uri.substr(7));
#ifdef OUTBOX_BENCH_POSTGRES_SOURCE
  return std::make_unique<PostgresOutboxWriter>(store_uri);
#else
  throw std::runtime_error("this benchmark was built without the PostgreSQL store");
#endif
}

// The source outbox of one benchmark run: a SQLite file in `dir`, or with `postgres` a fresh
// database on `pg_server` (default $OUTBOX_PG_URI), dropped when this goes.
class RelaySource {
 public:
  RelaySource(bool postgres, const std::string& pg_server, const std::filesystem::path& dir,
              const std::string& database_name)
      : uri_("sqlite:" + (dir / (database_name + ".db")).string()) {
    if (!postgres) return;
#ifdef OUTBOX_BENCH_POSTGRES_SOURCE
    pg_ = std::make_unique<pg::Database>(pg_server.empty() ? pg::server_from_env() : pg_server, database_name);
    std::printf("server: %s\n", pg_->settings().c_str());
    uri_ = pg_->uri();
#else
    throw std::runtime_error("--postgres: this build has no PostgreSQL store; build with -DOUTBOX_WITH_POSTGRES=ON");
#endif
  }
  const std::string& uri() const { return uri_; }
  const char* name() const { return is_sqlite(uri_) ? "SQLite" : "PostgreSQL"; }

  // Puts n messages in transactions of 10,000 (n = 0: only creates the outbox).
  void fill(std::int64_t n, std::size_t bytes) const {
    auto w = open_writer(uri_);
    const std::string pad = payload_text(bytes);
    for (std::int64_t i = 1; i <= n;) {
      w->begin();
      for (int j = 0; j < 10000 && i <= n; ++j, ++i) w->put(order_message(i, pad));
      w->commit();
    }
    w->settle();
  }

 private:
  std::string uri_;
#ifdef OUTBOX_BENCH_POSTGRES_SOURCE
  std::unique_ptr<pg::Database> pg_;
#endif
};

// Relays the whole outbox once with a new consumer (so every run starts from the beginning) to
// `sink`, stopping when idle; returns messages per second. Says so when not all were acknowledged.
inline double relay_all(const std::string& store_uri, const std::string& consumer, outbox::Sink& sink,
                        std::size_t batch_size, std::int64_t expected,
                        std::size_t max_in_flight = outbox::RelayOptions{}.max_in_flight) {
  auto store = outbox::open_store(store_uri);
  outbox::RelayOptions o;
  o.outbox = "bench";
  o.consumer = consumer;
  o.stop_when_idle = true;
  o.batch_size = batch_size;
  o.max_in_flight = max_in_flight;
  outbox::Relay relay(*store, sink, o);
  const auto start = mono_ns();
  relay.run();
  const double secs = seconds_since(start);
  if (relay.stats().acknowledged != expected) {
    std::printf("  relay: %lld of %lld acknowledged\n", static_cast<long long>(relay.stats().acknowledged),
                static_cast<long long>(expected));
  }
  return static_cast<double>(expected) / secs;
}

// The application: one message per transaction at a steady rate, in a child process. The child
// is forked when this is constructed, which must happen before this process starts any thread
// (a relay, a broker client, an in-process receiver): a fork while another thread held SQLite's
// allocator mutex left the child waiting for it forever. It writes only once start() is called.
class SteadyWriter {
 public:
  SteadyWriter(const std::string& store_uri, double rate, double seconds, std::size_t bytes)
      : expected_(static_cast<std::size_t>(rate * seconds)) {
    int go[2];
    if (pipe(go) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 1) _exit(1);  // the parent gave up before starting
      write_steadily(store_uri, rate, seconds, bytes);
    }
    close(go[0]);
    go_ = go[1];
  }
  SteadyWriter(const SteadyWriter&) = delete;
  SteadyWriter& operator=(const SteadyWriter&) = delete;
  ~SteadyWriter() {
    if (go_ >= 0) close(go_);  // a child still waiting for "go" exits
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  std::size_t expected() const { return expected_; }
  void start() {
    if (write(go_, "g", 1) != 1) throw std::runtime_error("cannot start the writer process");
    close(go_);
    go_ = -1;
  }
  // Waits for the child; false (and says so) when it failed.
  bool wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) std::fprintf(stderr, "the writer process failed (see its message above); the figures are incomplete\n");
    return ok;
  }

 private:
  [[noreturn]] static void write_steadily(const std::string& store_uri, double rate, double seconds,
                                          std::size_t bytes) {
    try {
      auto w = open_writer(store_uri);
      const std::string pad = payload_text(bytes);
      const auto start = mono_ns();
      const auto total = static_cast<std::int64_t>(rate * seconds);
      for (std::int64_t i = 1; i <= total; ++i) {
        const auto due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
        while (mono_ns() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
        w->begin();
        w->put(order_message(i, pad));
        w->commit();
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "writer process: %s\n", e.what());
      _exit(1);
    }
    _exit(0);
  }

  std::size_t expected_;
  pid_t pid_ = -1;
  int go_ = -1;
};

// Commit -> acknowledged latency: the relay runs from `store_uri` (outbox created, e.g. by
// RelaySource::fill(0)) to `sink` while `writer` writes; `warm_up`, when given, runs first with the
// relay already going (e.g. to create a topic) and its acknowledgements are not counted. Prints
// the figures under `title`.
inline void measure_latency(const std::string& title, const std::string& store_uri, SteadyWriter& writer,
                            std::unique_ptr<outbox::Sink> sink_under_test, double rate, double seconds,
                            const std::function<void(TimingSink&)>& warm_up = {}) {
  auto store = outbox::open_store(store_uri);
  TimingSink sink(std::move(sink_under_test));
  outbox::RelayOptions o;
  o.outbox = "bench";
  o.consumer = "latency";
  outbox::Relay relay(*store, sink, o);
  std::thread runner([&] { relay.run(); });
  if (warm_up) {
    warm_up(sink);
    sink.reset();
  }
  std::printf("writing %.0f msg/s for %.0f s into the outbox (another process) ...\n", rate, seconds);
  std::fflush(stdout);
  writer.start();
  writer.wait();
  for (int i = 0; i < 100 && sink.latencies().size() < writer.expected(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  relay.stop();
  runner.join();
  const auto l = sink.latencies();
  append_samples(title + " (" + sink.describe() + ")", l);
  std::printf("%s (%s), at %.0f msg/s for %.0f s, writer in another process\n", title.c_str(), sink.describe().c_str(),
              rate, seconds);
  std::printf("  samples %zu of %zu; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", l.size(), writer.expected(),
              percentile(l, 50), percentile(l, 90), percentile(l, 99),
              l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
}

}  // namespace bench

// The writer half of benchmark 3: a separate process that commits one message per transaction at
// a steady rate (an absolute schedule, so that a slow commit does not lower the rate), like a
// service would. For each message it records its position and the CLOCK_MONOTONIC time just after
// COMMIT returned, and writes those records to --out when done, for the relay side to join with
// its acknowledgement times. Started by outbox_bench_latency; usable alone.
#include <sqlite3.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#ifdef OUTBOX_WITH_POSTGRES
#include "outbox/postgres.hpp"
#include "pg_util.hpp"
#endif

namespace {

struct Record {
  std::int64_t position;
  std::int64_t begin_ns;   // CLOCK_MONOTONIC before BEGIN
  std::int64_t commit_ns;  // CLOCK_MONOTONIC after COMMIT returned
};

void check(sqlite3* db, int rc, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "writer: sqlite: %s: %s\n", doing, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// Commits one message per call in a transaction of its own; returns its position.
class CommitOne {
 public:
  virtual ~CommitOne() = default;
  virtual std::int64_t commit(outbox::Message m) = 0;
};

class SqliteCommitOne final : public CommitOne {
 public:
  SqliteCommitOne(const std::string& path, const std::string& outbox, const std::string& sync) {
    check(db_, sqlite3_open(path.c_str(), &db_), "open");
    sqlite3_busy_timeout(db_, 5000);
    check(db_, sqlite3_exec(db_, ("PRAGMA synchronous=" + sync).c_str(), nullptr, nullptr, nullptr), "pragma");
    box_.emplace(outbox, outbox::SchemaRegistry::from_json({{"tick", {{"type", "object"}}}}));
    box_->init(db_);  // idempotent; the database is already in WAL mode
    check(db_, sqlite3_prepare_v2(db_, "BEGIN IMMEDIATE", -1, &begin_, nullptr), "prepare");
    check(db_, sqlite3_prepare_v2(db_, "COMMIT", -1, &commit_, nullptr), "prepare");
    writer_.emplace(box_->writer(db_));
  }
  ~SqliteCommitOne() override {
    writer_.reset();
    sqlite3_finalize(begin_);
    sqlite3_finalize(commit_);
    sqlite3_close_v2(db_);
  }
  std::int64_t commit(outbox::Message m) override {
    check(db_, sqlite3_step(begin_), "BEGIN");
    sqlite3_reset(begin_);
    const auto put = writer_->put(std::move(m));
    check(db_, sqlite3_step(commit_), "COMMIT");
    sqlite3_reset(commit_);
    return put.position;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  std::optional<outbox::sqlite::Outbox> box_;
  std::optional<outbox::sqlite::Writer> writer_;
};

#ifdef OUTBOX_WITH_POSTGRES
class PostgresCommitOne final : public CommitOne {
 public:
  PostgresCommitOne(const std::string& uri, const std::string& outbox, bool wake_relay, bool wal)
      : conn_(uri),
        box_(outbox, outbox::SchemaRegistry::from_json({{"tick", {{"type", "object"}}}}),
             {.mode = wal ? outbox::postgres::Mode::wal : outbox::postgres::Mode::table, .wake_relay = wake_relay}) {
    bench::pg::exec(conn_, "SET synchronous_commit = on");
    box_.init(conn_);
  }
  std::int64_t commit(outbox::Message m) override {
    bench::pg::exec(conn_, "BEGIN");
    const auto put = box_.put(conn_, std::move(m));
    bench::pg::exec(conn_, "COMMIT");
    return put.position;
  }

 private:
  bench::pg::Conn conn_;
  outbox::postgres::Outbox box_;
};
#endif

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"db", ""},
                  {"store", ""},
                  {"wake", "true"},
                  {"wal", "false"},
                  {"outbox", "lat"},
                  {"rate", "1000"},
                  {"seconds", "15"},
                  {"sync", "FULL"},
                  {"payload-bytes", "200"},
                  {"out", ""}},
                 "outbox_bench_writer: one message per transaction at a steady rate (for outbox_bench_latency).\n"
                 "--db: a SQLite file; --store: a PostgreSQL URI or conninfo instead (synchronous_commit on;\n"
                 "--wake=false: OutboxOptions::wake_relay=false; --wal: an outbox in WAL mode).");
  if ((f.str("db").empty() && f.str("store").empty()) || f.str("out").empty()) {
    std::fprintf(stderr, "writer: --db or --store, and --out are required\n");
    return 2;
  }
  std::unique_ptr<CommitOne> target;
  std::string durability = "synchronous=" + f.str("sync");
  try {
    if (!f.str("store").empty()) {
#ifdef OUTBOX_WITH_POSTGRES
      target = std::make_unique<PostgresCommitOne>(f.str("store"), f.str("outbox"), f.flag("wake"), f.flag("wal"));
      durability = f.flag("wal") ? std::string("PostgreSQL WAL mode, synchronous_commit=on")
                                 : std::string("PostgreSQL, synchronous_commit=on, wake_relay=") +
                                       (f.flag("wake") ? "true" : "false");
#else
      std::fprintf(stderr, "writer: --store: this build has no PostgreSQL store\n");
      return 2;
#endif
    } else {
      target = std::make_unique<SqliteCommitOne>(f.str("db"), f.str("outbox"), f.str("sync"));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer: %s\n", e.what());
    return 1;
  }

  // --rate=0: flat out, no schedule, for --seconds (to measure the maximum rate).
  const double rate = f.num("rate");
  const bool flat_out = rate <= 0;
  const std::int64_t period_ns = flat_out ? 0 : static_cast<std::int64_t>(1e9 / rate);
  const std::int64_t count = flat_out ? INT64_MAX : static_cast<std::int64_t>(rate * f.num("seconds"));
  const std::int64_t flat_out_until = bench::mono_ns() + static_cast<std::int64_t>(f.num("seconds") * 1e9);
  const auto payload = static_cast<std::size_t>(f.integer("payload-bytes"));
  std::vector<Record> records;
  records.reserve(flat_out ? 1 << 16 : static_cast<std::size_t>(count));
  std::vector<double> commit_ms;
  commit_ms.reserve(records.capacity());
  std::int64_t max_lag_ns = 0, late = 0;
  const std::int64_t t0 = bench::mono_ns() + 10'000'000;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t due = t0 + i * period_ns;
    if (flat_out) {
      if (bench::mono_ns() >= flat_out_until) break;
    } else {
      timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
    }
    const std::int64_t start = bench::mono_ns();
    if (!flat_out) {
      max_lag_ns = std::max(max_lag_ns, start - due);
      if (start - due > period_ns) ++late;
    }
    outbox::Message m;
    m.type = "tick";
    m.key = "k" + std::to_string(i % 64);
    m.data = {{"seq", i}, {"note", ""}};
    const std::size_t base = m.data.dump().size();
    m.data["note"] = std::string(payload > base ? payload - base : 0, 'x');
    std::int64_t position = 0;
    try {
      position = target->commit(std::move(m));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "writer: %s\n", e.what());
      return 1;
    }
    const std::int64_t done = bench::mono_ns();
    records.push_back({position, start, done});
    commit_ms.push_back(static_cast<double>(done - start) / 1e6);
  }
  if (records.empty()) {
    std::fprintf(stderr, "writer: nothing written\n");
    return 1;
  }
  const double wall = static_cast<double>(records.back().commit_ns - records.front().begin_ns) / 1e9;
  std::printf(
      "writer: %lld messages in %.2f s = %.0f msg/s (one per transaction, %s); "
      "BEGIN..COMMIT p50 %.3f ms, p99 %.3f ms, max %.3f ms; max schedule lag %.3f ms, %lld started "
      ">1 period late\n",
      static_cast<long long>(records.size()), wall, static_cast<double>(records.size()) / wall, durability.c_str(),
      bench::percentile(commit_ms, 50), bench::percentile(commit_ms, 99), bench::percentile(commit_ms, 100),
      static_cast<double>(max_lag_ns) / 1e6, static_cast<long long>(late));
  std::fflush(stdout);
  target.reset();
  std::ofstream out(f.str("out"), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(records.data()),
            static_cast<std::streamsize>(records.size() * sizeof(Record)));
  return out.good() ? 0 : 1;
}

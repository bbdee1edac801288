// The writer half of benchmark 3: a separate process that commits one message per transaction at
// a steady rate (an absolute schedule, so that a slow commit does not lower the rate), like a
// service would. For each message it records its position and the CLOCK_MONOTONIC time just after
// COMMIT returned, and writes those records to --out when done, for the relay side to join with
// its acknowledgement times. Started by outbox_bench_latency; usable alone.
#include <sqlite3.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"db", ""},
                  {"outbox", "lat"},
                  {"rate", "1000"},
                  {"seconds", "15"},
                  {"sync", "FULL"},
                  {"payload-bytes", "200"},
                  {"out", ""}},
                 "outbox_bench_writer: one message per transaction at a steady rate (for outbox_bench_latency).");
  if (f.str("db").empty() || f.str("out").empty()) {
    std::fprintf(stderr, "writer: --db and --out are required\n");
    return 2;
  }
  sqlite3* db = nullptr;
  check(db, sqlite3_open(f.str("db").c_str(), &db), "open");
  sqlite3_busy_timeout(db, 5000);
  check(db, sqlite3_exec(db, ("PRAGMA synchronous=" + f.str("sync")).c_str(), nullptr, nullptr, nullptr), "pragma");
  outbox::sqlite::Outbox box(f.str("outbox"), outbox::SchemaRegistry::from_json({{"tick", {{"type", "object"}}}}));
  box.init(db);  // idempotent; the database is already in WAL mode
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  check(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr), "prepare");
  check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr), "prepare");

  const double rate = f.num("rate");
  const std::int64_t period_ns = static_cast<std::int64_t>(1e9 / rate);
  const std::int64_t count = static_cast<std::int64_t>(rate * f.num("seconds"));
  const auto payload = static_cast<std::size_t>(f.integer("payload-bytes"));
  std::vector<Record> records;
  records.reserve(static_cast<std::size_t>(count));
  std::vector<double> commit_ms;
  commit_ms.reserve(static_cast<std::size_t>(count));
  std::int64_t max_lag_ns = 0, late = 0;
  {
    auto writer = box.writer(db);
    const std::int64_t t0 = bench::mono_ns() + 10'000'000;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t due = t0 + i * period_ns;
      timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      const std::int64_t start = bench::mono_ns();
      max_lag_ns = std::max(max_lag_ns, start - due);
      if (start - due > period_ns) ++late;
      outbox::Message m;
      m.type = "tick";
      m.key = "k" + std::to_string(i % 64);
      m.data = {{"seq", i}, {"note", ""}};
      const std::size_t base = m.data.dump().size();
      m.data["note"] = std::string(payload > base ? payload - base : 0, 'x');
      check(db, sqlite3_step(begin), "BEGIN");
      sqlite3_reset(begin);
      const auto put = writer.put(std::move(m));
      check(db, sqlite3_step(commit), "COMMIT");
      sqlite3_reset(commit);
      const std::int64_t done = bench::mono_ns();
      records.push_back({put.position, start, done});
      commit_ms.push_back(static_cast<double>(done - start) / 1e6);
    }
    const double wall = static_cast<double>(records.back().commit_ns - t0) / 1e9;
    std::printf("writer: %lld messages in %.2f s = %.0f msg/s (one per transaction, synchronous=%s); "
                "BEGIN..COMMIT p50 %.3f ms, p99 %.3f ms, max %.3f ms; max schedule lag %.3f ms, %lld started "
                ">1 period late\n",
                static_cast<long long>(records.size()), wall, static_cast<double>(records.size()) / wall,
                f.str("sync").c_str(), bench::percentile(commit_ms, 50), bench::percentile(commit_ms, 99),
                bench::percentile(commit_ms, 100), static_cast<double>(max_lag_ns) / 1e6,
                static_cast<long long>(late));
    std::fflush(stdout);
  }
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close_v2(db);
  std::ofstream out(f.str("out"), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(records.data()),
            static_cast<std::streamsize>(records.size() * sizeof(Record)));
  return out.good() ? 0 : 1;
}

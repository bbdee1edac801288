// Benchmark 1 - write overhead: a service's SQLite transaction that inserts one business row,
// against the same transaction plus one outbox put (outbox::sqlite::Writer, typed message).
//
// Both variants run on one connection to one database, in alternating rounds (A B, B A, A B, ...)
// so that drift (WAL growth, checkpoints, page cache, other load) falls on both equally. Printed:
// the throughput of each variant and the ratio with-put / without, per synchronous mode.
#include <sqlite3.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

struct OrderCreated {
  std::int64_t ordernr;
  std::string customer;
  std::int64_t amount_cents;
  std::string currency;
  std::vector<std::string> items;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr, customer, amount_cents, currency, items)
using OrderEvents = outbox::MessageSet<OrderCreated>;

namespace {

void check(sqlite3* db, int rc, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite: %s: %s\n", doing, sqlite3_errmsg(db));
    std::exit(1);
  }
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), sql);
  return s;
}

void run(sqlite3* db, sqlite3_stmt* s, const char* what) {
  check(db, sqlite3_step(s), what);
  sqlite3_reset(s);
}

struct Round {
  std::int64_t txns = 0;
  double seconds = 0;
  double put_seconds = 0;  // time inside Writer::put (with-put rounds only)
  double rate() const { return static_cast<double>(txns) / seconds; }
};

struct Service {
  sqlite3* db = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* insert_order = nullptr;
  outbox::sqlite::Outbox outbox{"orders", OrderEvents::registry()};
  std::optional<outbox::sqlite::Writer> writer;
  std::int64_t sequence = 0;

  // One business transaction: BEGIN IMMEDIATE; INSERT INTO orders ...; [put]; COMMIT.
  Round round(bool with_put, double round_seconds) {
    Round r;
    const std::int64_t start = bench::mono_ns();
    const std::int64_t deadline = start + static_cast<std::int64_t>(round_seconds * 1e9);
    std::int64_t put_ns = 0;
    static const std::vector<std::string> items = {"sku-1001", "sku-2002", "sku-3003"};
    static const std::string items_text = "sku-1001,sku-2002,sku-3003";
    do {
      ++sequence;
      const std::string customer = "customer-" + std::to_string(sequence % 1000);
      const std::int64_t amount = 1000 + sequence % 9000;
      run(db, begin, "BEGIN");
      sqlite3_bind_text(insert_order, 1, customer.data(), static_cast<int>(customer.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert_order, 2, amount);
      sqlite3_bind_text(insert_order, 3, "EUR", 3, SQLITE_STATIC);
      sqlite3_bind_text(insert_order, 4, items_text.data(), static_cast<int>(items_text.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_order, 5, outbox::now().time_since_epoch().count());
      run(db, insert_order, "INSERT INTO orders");
      if (with_put) {
        const std::int64_t t0 = bench::mono_ns();
        const std::int64_t ordernr = sqlite3_last_insert_rowid(db);
        OrderEvents::put(*writer, OrderCreated{ordernr, customer, amount, "EUR", items},
                         "order-" + std::to_string(ordernr));
        put_ns += bench::mono_ns() - t0;
      }
      run(db, commit, "COMMIT");
      ++r.txns;
    } while (bench::mono_ns() < deadline);
    r.seconds = static_cast<double>(bench::mono_ns() - start) / 1e9;
    r.put_seconds = static_cast<double>(put_ns) / 1e9;
    return r;
  }

  ~Service() {
    writer.reset();
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(insert_order);
    sqlite3_close_v2(db);
  }
};

void measure(const std::filesystem::path& parent, const std::string& sync, int rounds, double round_seconds,
             bool verbose) {
  const auto dir = bench::make_run_dir(parent, "write-" + sync);
  const std::string path = (dir / "service.db").string();
  auto service = std::make_unique<Service>();
  Service& s = *service;
  check(s.db, sqlite3_open(path.c_str(), &s.db), "open");
  sqlite3_busy_timeout(s.db, 5000);
  s.outbox.init(s.db);  // switches to WAL
  check(s.db, sqlite3_exec(s.db, ("PRAGMA synchronous=" + sync).c_str(), nullptr, nullptr, nullptr), "synchronous");
  check(s.db,
        sqlite3_exec(s.db,
                     "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount_cents INTEGER "
                     "NOT NULL, currency TEXT NOT NULL, items TEXT NOT NULL, created_us INTEGER NOT NULL)",
                     nullptr, nullptr, nullptr),
        "create orders");
  s.begin = prepare(s.db, "BEGIN IMMEDIATE");
  s.commit = prepare(s.db, "COMMIT");
  s.insert_order = prepare(
      s.db, "INSERT INTO orders (customer, amount_cents, currency, items, created_us) VALUES (?1, ?2, ?3, ?4, ?5)");
  s.writer.emplace(s.outbox.writer(s.db));

  // Warm-up: one round of each, not counted.
  s.round(false, round_seconds);
  s.round(true, round_seconds);

  std::vector<Round> base, with;
  std::vector<double> pair_ratio;
  for (int i = 0; i < rounds; ++i) {
    Round a, b;
    if (i % 2 == 0) {
      a = s.round(false, round_seconds);
      b = s.round(true, round_seconds);
    } else {
      b = s.round(true, round_seconds);
      a = s.round(false, round_seconds);
    }
    base.push_back(a);
    with.push_back(b);
    pair_ratio.push_back(b.rate() / a.rate());
    if (verbose) {
      std::printf("  round %2d: without put %9.0f txn/s, with put %9.0f txn/s, ratio %.3f\n", i + 1, a.rate(),
                  b.rate(), b.rate() / a.rate());
    }
  }
  auto totals = [](const std::vector<Round>& v) {
    Round t;
    for (const auto& r : v) {
      t.txns += r.txns;
      t.seconds += r.seconds;
      t.put_seconds += r.put_seconds;
    }
    return t;
  };
  const Round tb = totals(base), tw = totals(with);
  std::vector<double> base_rates, with_rates;
  for (const auto& r : base) base_rates.push_back(r.rate());
  for (const auto& r : with) with_rates.push_back(r.rate());
  const double ratio = tw.rate() / tb.rate();
  const double target = sync == "FULL" ? 0.95 : 0.80;
  std::printf("synchronous=%s, journal_mode=WAL: %d alternating rounds of %.0f ms per variant\n", sync.c_str(), rounds,
              round_seconds * 1000);
  std::printf("  without put: %10.0f txn/s  (%lld txns; round median %.0f, min %.0f, max %.0f)  %.1f us/txn\n",
              tb.rate(), static_cast<long long>(tb.txns), bench::median(base_rates),
              *std::min_element(base_rates.begin(), base_rates.end()),
              *std::max_element(base_rates.begin(), base_rates.end()), 1e6 / tb.rate());
  std::printf("  with put:    %10.0f txn/s  (%lld txns; round median %.0f, min %.0f, max %.0f)  %.1f us/txn\n",
              tw.rate(), static_cast<long long>(tw.txns), bench::median(with_rates),
              *std::min_element(with_rates.begin(), with_rates.end()),
              *std::max_element(with_rates.begin(), with_rates.end()), 1e6 / tw.rate());
  std::printf("  time added per transaction: %.1f us, of which inside Writer::put %.1f us\n",
              1e6 / tw.rate() - 1e6 / tb.rate(), 1e6 * tw.put_seconds / static_cast<double>(tw.txns));
  std::printf("  RATIO with/without put (synchronous=%s): %.3f   [per-pair median %.3f, min %.3f, max %.3f]"
              "   target >= %.2f: %s\n\n",
              sync.c_str(), ratio, bench::median(pair_ratio),
              *std::min_element(pair_ratio.begin(), pair_ratio.end()),
              *std::max_element(pair_ratio.begin(), pair_ratio.end()), target, ratio >= target ? "met" : "MISSED");
  std::fflush(stdout);
  service.reset();  // closed before the folder goes
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"dir", "/tmp"}, {"rounds", "20"}, {"round-ms", "250"}, {"sync", "FULL,NORMAL"}, {"verbose", "false"}},
                 "outbox_bench_write: transaction with one business row, without and with an outbox put.");
  std::printf("outbox_bench_write%s\n", f.command_line().c_str());
  bench::print_machine(f.str("dir"));
  std::string modes = f.str("sync");
  for (std::size_t start = 0; start <= modes.size();) {
    std::size_t comma = modes.find(',', start);
    if (comma == std::string::npos) comma = modes.size();
    std::string mode = modes.substr(start, comma - start);
    for (auto& ch : mode) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!mode.empty()) {
      measure(f.str("dir"), mode, static_cast<int>(f.integer("rounds")), f.num("round-ms") / 1000.0, f.flag("verbose"));
    }
    start = comma + 1;
  }
  return 0;
}

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
#include "order_events.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

namespace {

// The `data` a put of a typical OrderCreated serializes, for the raw-INSERT diagnostics.
std::string detail_encoded_event() {
  return OrderEvents::make(OrderCreated{123456, "customer-123", 4242, "EUR", {"sku-1001", "sku-2002", "sku-3003"}})
      .data.dump();
}

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

int page_size(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  check(db, sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr), "page_size");
  const int size = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  return size;
}

struct Round {
  std::int64_t txns = 0;
  double seconds = 0;
  double put_seconds = 0;  // time inside Writer::put (with-put rounds only)
  double rate() const { return static_cast<double>(txns) / seconds; }
};

// What each transaction does besides BEGIN IMMEDIATE; INSERT INTO orders ...; COMMIT.
enum Variant {
  kWithout = 0,  // nothing: the baseline
  kPut,          // OrderEvents::put(writer, ...): the library's fast path
  // Diagnostics (--layouts): a raw INSERT of a same-sized, pre-serialized row, no validation, no
  // UUID; shows what the table layout alone costs. The DDL copies src/store/sqlite/tables.cpp.
  kRawPlain,       // INTEGER PRIMARY KEY table
  kRawAutoinc,     // ... AUTOINCREMENT (one more page per commit: sqlite_sequence)
  kRawOutboxLike,  // ... AUTOINCREMENT + index on created_us, i.e. the outbox table's layout
  kPutUntyped,     // Writer::put of a Message with a JSON `data`: the full schema check
  kVariants
};
const char* const kVariantNames[kVariants] = {"without put", "with put",        "raw rowid",
                                              "raw autoinc", "raw outbox-like", "untyped put"};

struct Service {
  sqlite3* db = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* insert_order = nullptr;
  sqlite3_stmt* raw[kVariants] = {};
  outbox::sqlite::Outbox outbox{"orders", OrderEvents::registry()};
  std::optional<outbox::sqlite::Writer> writer;
  std::int64_t sequence = 0;
  std::string raw_data;  // a serialized event, for the raw variants

  // Transactions of one variant for `round_seconds` (at least one).
  Round round(Variant v, double round_seconds) {
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
      if (v == kPut) {
        const std::int64_t t0 = bench::mono_ns();
        const std::int64_t ordernr = sqlite3_last_insert_rowid(db);
        OrderEvents::put(*writer, OrderCreated{ordernr, customer, amount, "EUR", items},
                         "order-" + std::to_string(ordernr));
        put_ns += bench::mono_ns() - t0;
      } else if (v == kPutUntyped) {
        const std::int64_t ordernr = sqlite3_last_insert_rowid(db);
        outbox::Message m;
        m.type = "order_created";
        m.key = "order-" + std::to_string(ordernr);
        m.data = {{"ordernr", ordernr},
                  {"customer", customer},
                  {"amount_cents", amount},
                  {"currency", "EUR"},
                  {"items", items}};
        writer->put(std::move(m));
      } else if (v != kWithout) {
        sqlite3_stmt* st = raw[v];
        sqlite3_bind_text(st, 1, "0192f0c4-6d2a-7c1e-9b3d-5f8a1e2c4b6d", 36, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, "order_created", 13, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, customer.data(), static_cast<int>(customer.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, raw_data.data(), static_cast<int>(raw_data.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, outbox::now().time_since_epoch().count());
        run(db, st, "raw INSERT");
      }
      run(db, commit, "COMMIT");
      ++r.txns;
    } while (bench::mono_ns() < deadline);
    r.seconds = static_cast<double>(bench::mono_ns() - start) / 1e9;
    r.put_seconds = static_cast<double>(put_ns) / 1e9;
    return r;
  }

  // WAL frames (pages) each transaction appends, counted with a WAL hook. Untimed: installing a
  // hook replaces SQLite's auto-checkpoint, which is restored afterwards.
  double frames_per_txn(Variant v, int n) {
    static int frames = 0;
    sqlite3_wal_hook(
        db,
        [](void*, sqlite3*, const char*, int in_wal) {
          frames = in_wal;
          return SQLITE_OK;
        },
        nullptr);
    check(db, sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr), "checkpoint");
    frames = 0;
    std::int64_t total = 0;
    for (int i = 0; i < n; ++i) {
      const int before = frames;
      round(v, 0);  // one transaction
      total += frames - before;
    }
    sqlite3_wal_autocheckpoint(db, 1000);
    return static_cast<double>(total) / n;
  }

  ~Service() {
    writer.reset();
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(insert_order);
    for (auto* st : raw) sqlite3_finalize(st);
    sqlite3_close_v2(db);
  }
};

void measure(const std::filesystem::path& parent, const std::string& sync, int rounds, double round_seconds,
             bool layouts, bool verbose) {
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
  std::vector<Variant> variants = {kWithout, kPut};
  if (layouts) {
    const char* columns =
        " (id TEXT NOT NULL, type TEXT NOT NULL, key TEXT, data TEXT NOT NULL, headers TEXT,"
        " created_us INTEGER NOT NULL)";
    auto table = [&](Variant v, const std::string& name, const std::string& pk, const std::string& extra) {
      std::string ddl = "CREATE TABLE " + name + " (position INTEGER PRIMARY KEY" + pk + ", " +
                        std::string(columns + 2) + ";" + extra;
      check(s.db, sqlite3_exec(s.db, ddl.c_str(), nullptr, nullptr, nullptr), "create raw table");
      s.raw[v] = prepare(s.db, ("INSERT INTO " + name +
                                " (id, type, key, data, headers, created_us) VALUES (?1, ?2, ?3, ?4, NULL, ?5)")
                                   .c_str());
      variants.push_back(v);
    };
    table(kRawPlain, "raw_plain", "", "");
    table(kRawAutoinc, "raw_autoinc", " AUTOINCREMENT", "");
    table(kRawOutboxLike, "raw_outbox_like", " AUTOINCREMENT",
          "CREATE INDEX raw_outbox_like_created ON raw_outbox_like (created_us);");
    s.raw_data = detail_encoded_event();
    variants.push_back(kPutUntyped);
  }

  // Warm-up: one round of each, not counted.
  for (Variant v : variants) s.round(v, round_seconds);

  std::vector<std::vector<Round>> results(kVariants);
  std::vector<double> pair_ratio;
  for (int i = 0; i < rounds; ++i) {
    // Forward order on even rounds, reversed on odd ones.
    std::vector<Round> got(kVariants);
    for (std::size_t k = 0; k < variants.size(); ++k) {
      const Variant v = variants[i % 2 == 0 ? k : variants.size() - 1 - k];
      got[v] = s.round(v, round_seconds);
      results[v].push_back(got[v]);
    }
    pair_ratio.push_back(got[kPut].rate() / got[kWithout].rate());
    if (verbose) {
      std::printf("  round %2d: without put %9.0f txn/s, with put %9.0f txn/s, ratio %.3f\n", i + 1,
                  got[kWithout].rate(), got[kPut].rate(), pair_ratio.back());
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
  std::vector<double> frames(kVariants, 0);
  for (Variant v : variants) frames[v] = s.frames_per_txn(v, 200);
  const Round tb = totals(results[kWithout]), tw = totals(results[kPut]);
  const double ratio = tw.rate() / tb.rate();
  const double target = sync == "FULL" ? 0.95 : 0.80;
  std::printf("synchronous=%s, journal_mode=WAL: %d alternating rounds of %.0f ms per variant\n", sync.c_str(), rounds,
              round_seconds * 1000);
  for (Variant v : variants) {
    const Round t = totals(results[v]);
    std::vector<double> rates;
    for (const auto& r : results[v]) rates.push_back(r.rate());
    std::printf(
        "  %-17s %10.0f txn/s  (%lld txns; round median %.0f, min %.0f, max %.0f)  %.1f us/txn, "
        "%.2f WAL frames/txn%s\n",
        (std::string(kVariantNames[v]) + ":").c_str(), t.rate(), static_cast<long long>(t.txns), bench::median(rates),
        *std::min_element(rates.begin(), rates.end()), *std::max_element(rates.begin(), rates.end()), 1e6 / t.rate(),
        frames[v],
        v >= kRawPlain ? ("; ratio to without put " + std::to_string(t.rate() / tb.rate()).substr(0, 5)).c_str() : "");
  }
  if (variants.size() > 2) {
    std::printf(
        "  (raw = the business transaction plus a raw INSERT of a pre-serialized event row, no validation:"
        " rowid = INTEGER PRIMARY KEY table; autoinc = with AUTOINCREMENT; outbox-like = AUTOINCREMENT and"
        " an index on created_us, the outbox table's layout; untyped put = Writer::put of a Message whose data is"
        " a JSON value, checked against the schema)\n");
  }
  std::printf(
      "  time added per transaction by the put: %.1f us, of which in the put call (typed encode + Writer::put) %.1f us"
      " (the rest is in COMMIT: %d-byte WAL frames %.2f -> %.2f per transaction)\n",
      1e6 / tw.rate() - 1e6 / tb.rate(), 1e6 * tw.put_seconds / static_cast<double>(tw.txns), page_size(s.db),
      frames[kWithout], frames[kPut]);
  std::printf(
      "  RATIO with/without put (synchronous=%s): %.3f   [per-round median %.3f, min %.3f, max %.3f]"
      "   target >= %.2f: %s\n\n",
      sync.c_str(), ratio, bench::median(pair_ratio), *std::min_element(pair_ratio.begin(), pair_ratio.end()),
      *std::max_element(pair_ratio.begin(), pair_ratio.end()), target, ratio >= target ? "met" : "MISSED");
  std::fflush(stdout);
  service.reset();  // closed before the folder goes
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"dir", "/tmp"},
                  {"rounds", "20"},
                  {"round-ms", "250"},
                  {"sync", "FULL,NORMAL"},
                  {"layouts", "false"},
                  {"verbose", "false"}},
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
      measure(f.str("dir"), mode, static_cast<int>(f.integer("rounds")), f.num("round-ms") / 1000.0, f.flag("layouts"),
              f.flag("verbose"));
    }
    start = comma + 1;
  }
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

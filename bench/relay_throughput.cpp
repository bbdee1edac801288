// Benchmark 2 - relay throughput: N pre-filled messages (~200-byte `data`) relayed from SQLite (or,
// with --postgres, from PostgreSQL) to the null sink and to the file sink (JSON lines, fdatasync
// per batch), with outbox::Relay and stop_when_idle. The baseline in the same run is the rate of
// just reading the same rows through the store's Tail (store->tail(...)->next()) with no relay
// and no sink.
#include <sqlite3.h>

#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#ifdef OUTBOX_WITH_POSTGRES
#include "outbox/postgres.hpp"
#include "pg_util.hpp"
#endif

namespace {

constexpr const char* kOutbox = "bench";

void check(sqlite3* db, int rc, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite: %s: %s\n", doing, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The i-th message, its serialized `data` about `payload_bytes` long.
outbox::Message bench_message(std::int64_t i, std::size_t payload_bytes) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(i % 1000);
  m.data = {{"ordernr", i},
            {"customer", "customer-" + std::to_string(i % 997)},
            {"amount_cents", 4200 + i % 100},
            {"currency", "EUR"},
            {"note", ""}};
  const std::size_t base = m.data.dump().size();
  m.data["note"] = std::string(payload_bytes > base ? payload_bytes - base : 0, 'x');
  return m;
}

#ifdef OUTBOX_WITH_POSTGRES
// The same messages into PostgreSQL, with the library's put, `per_txn` per transaction.
// With `wal`, into an outbox in WAL mode (logical decoding messages, read through a slot).
double prefill_postgres(const std::string& uri, std::int64_t n, std::size_t payload_bytes, std::int64_t per_txn,
                        bool wal) {
  bench::pg::Conn c(uri);
  outbox::postgres::Outbox box(kOutbox, outbox::SchemaRegistry::from_json({{"order_created", {{"type", "object"}}}}),
                               {.mode = wal ? outbox::postgres::Mode::wal : outbox::postgres::Mode::table});
  box.init(c);
  std::size_t total_bytes = 0;
  for (std::int64_t i = 1; i <= n;) {
    bench::pg::exec(c, "BEGIN");
    for (std::int64_t k = 0; k < per_txn && i <= n; ++k, ++i) {
      outbox::Message m = bench_message(i, payload_bytes);
      total_bytes += m.data.dump().size();
      box.put(c, std::move(m));
    }
    bench::pg::exec(c, "COMMIT");
  }
  if (!wal) bench::pg::exec(c, "VACUUM ANALYZE " + std::string("outbox_") + kOutbox);  // as autovacuum would, soon
  return static_cast<double>(total_bytes) / static_cast<double>(n);
}
#endif

// Writes `n` messages whose serialized `data` is about `payload_bytes` long, `per_txn` per transaction.
double prefill(const std::string& path, std::int64_t n, std::size_t payload_bytes, std::int64_t per_txn) {
  sqlite3* db = nullptr;
  check(db, sqlite3_open(path.c_str(), &db), "open");
  outbox::sqlite::Outbox box(kOutbox, outbox::SchemaRegistry::from_json({{"order_created", {{"type", "object"}}}}));
  box.init(db);
  check(db, sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr), "pragma");
  std::size_t total_bytes = 0;
  {
    auto writer = box.writer(db);
    for (std::int64_t i = 1; i <= n;) {
      check(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "BEGIN");
      for (std::int64_t k = 0; k < per_txn && i <= n; ++k, ++i) {
        outbox::Message m = bench_message(i, payload_bytes);
        total_bytes += m.data.dump().size();
        writer.put(std::move(m));
      }
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "COMMIT");
    }
  }
  check(db, sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr), "checkpoint");
  sqlite3_close_v2(db);
  return static_cast<double>(total_bytes) / static_cast<double>(n);
}

struct Run {
  double seconds = 0;
  double cpu_seconds = 0;  // user + system time of this process during the run
  std::int64_t messages = 0;
  double rate() const { return static_cast<double>(messages) / seconds; }
};

Run tail_read(const std::string& store_uri, std::int64_t n, std::size_t batch) {
  auto store = outbox::open_store(store_uri);
  outbox::TailOptions options;
  options.batch_size = batch;
  options.parse_data = false;  // as the relay reads: it forwards the stored JSON text
  Run r;
  const auto cpu0 = bench::cpu_self();
  const std::int64_t start = bench::mono_ns();
  auto tail = store->tail(kOutbox, outbox::Cursor::beginning(), options);
  while (r.messages < n) {
    auto got = tail->next(std::chrono::milliseconds(0));
    if (got.empty()) break;
    r.messages += static_cast<std::int64_t>(got.size());
  }
  r.seconds = bench::seconds_since(start);
  r.cpu_seconds = bench::cpu_self().total() - cpu0.total();
  return r;
}

Run relay(const std::string& store_uri, const std::string& sink_uri, const std::string& consumer, std::int64_t n,
          std::size_t batch, std::int64_t* checkpoints) {
  auto store = outbox::open_store(store_uri);
  auto sink = outbox::open_sink(sink_uri);
  outbox::RelayOptions options;
  options.outbox = kOutbox;
  options.consumer = consumer;
  options.batch_size = batch;
  options.stop_when_idle = true;
  // With stop_when_idle the relay stops after one empty wait of min(idle_wait, 200 ms); keep that
  // final wait out of the measurement (the rows are all committed before the run starts).
  options.idle_wait = std::chrono::milliseconds(1);
  outbox::Relay relay(*store, *sink, options);
  Run r;
  const auto cpu0 = bench::cpu_self();
  const std::int64_t start = bench::mono_ns();
  relay.run();
  r.seconds = bench::seconds_since(start);
  r.cpu_seconds = bench::cpu_self().total() - cpu0.total();
  const auto stats = relay.stats();
  r.messages = stats.acknowledged;
  *checkpoints = stats.checkpoints;
  if (stats.acknowledged != n) {
    std::fprintf(stderr, "warning: relay to %s acknowledged %lld of %lld messages\n", sink_uri.c_str(),
                 static_cast<long long>(stats.acknowledged), static_cast<long long>(n));
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"dir", "/tmp"},
                  {"messages", "200000"},
                  {"payload-bytes", "200"},
                  {"reps", "5"},
                  {"batch", "1000"},
                  {"prefill-txn", "10000"},
                  {"variants", "tail,null,file"},
                  {"postgres", "false"},
                  {"wal", "false"},
                  {"server", ""},
                  {"verbose", "false"}},
                 "outbox_bench_relay: relay throughput SQLite -> null: and -> file:, against reading the tail alone.\n"
                 "--postgres: from PostgreSQL instead, in a fresh database on --server (default $OUTBOX_PG_URI);\n"
                 "with --wal, from an outbox in WAL mode (the server needs wal_level=logical).");
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_relay%s\n", outbox::redact_uri(f.command_line()).c_str());
  const auto dir = bench::make_run_dir(f.str("dir"), "relay");
  bench::print_machine(dir);
  const bool postgres = f.flag("postgres");
  const std::string db_path = (dir / "outbox.db").string();
  std::string store_uri = "sqlite:" + db_path;
  const std::int64_t n = f.integer("messages");
  const auto batch = static_cast<std::size_t>(f.integer("batch"));

  const std::int64_t fill_start = bench::mono_ns();
  double avg_payload = 0;
#ifdef OUTBOX_WITH_POSTGRES
  std::unique_ptr<bench::pg::Database> pg;
  if (postgres) {
    pg = std::make_unique<bench::pg::Database>(f.str("server").empty() ? bench::pg::server_from_env() : f.str("server"),
                                               "bench_relay");
    std::printf("server: %s\n", pg->settings().c_str());
    store_uri = pg->uri();
    avg_payload = prefill_postgres(store_uri, n, static_cast<std::size_t>(f.integer("payload-bytes")),
                                   f.integer("prefill-txn"), f.flag("wal"));
  }
#else
  if (postgres) {
    std::fprintf(stderr, "--postgres: this build has no PostgreSQL store\n");
    return 2;
  }
#endif
  if (!postgres) {
    avg_payload = prefill(db_path, n, static_cast<std::size_t>(f.integer("payload-bytes")), f.integer("prefill-txn"));
  }
  std::printf("prefill: %lld messages, mean serialized data %.1f bytes, %lld per transaction, %.2f s\n",
              static_cast<long long>(n), avg_payload, static_cast<long long>(f.integer("prefill-txn")),
              bench::seconds_since(fill_start));
  std::printf(
      "relay: batch_size %zu, default max_in_flight; sinks: null: and file:%s/sink.jsonl (fdatasync per batch)\n\n",
      batch, dir.c_str());
  std::fflush(stdout);

  std::vector<double> tail_rates, null_rates, file_rates;
  std::vector<double> tail_cpu_us, null_cpu_us, file_cpu_us;  // CPU microseconds per message
  std::int64_t null_checkpoints = 0, file_checkpoints = 0;
  const int reps = static_cast<int>(f.integer("reps"));
  for (int rep = 0; rep < reps; ++rep) {
    // Rotate the order so that a slow phase of the machine does not always hit the same variant.
    for (int k = 0; k < 3; ++k) {
      const int which = (rep + k) % 3;
      static const char* names[] = {"tail", "null", "file"};
      if (("," + f.str("variants") + ",").find(std::string(",") + names[which] + ",") == std::string::npos) continue;
      if (which == 0) {
        const Run r = tail_read(store_uri, n, batch);
        tail_rates.push_back(r.rate());
        tail_cpu_us.push_back(1e6 * r.cpu_seconds / static_cast<double>(r.messages));
        if (f.flag("verbose"))
          std::printf("  rep %d tail read:     %9.0f msg/s (%.3f s, CPU %.3f s)\n", rep + 1, r.rate(), r.seconds,
                      r.cpu_seconds);
      } else if (which == 1) {
        const Run r = relay(store_uri, "null:", "null_" + std::to_string(rep), n, batch, &null_checkpoints);
        null_rates.push_back(r.rate());
        null_cpu_us.push_back(1e6 * r.cpu_seconds / static_cast<double>(r.messages));
        if (f.flag("verbose"))
          std::printf("  rep %d relay -> null: %9.0f msg/s (%.3f s, CPU %.3f s)\n", rep + 1, r.rate(), r.seconds,
                      r.cpu_seconds);
      } else {
        const std::string sink_path = (dir / "sink.jsonl").string();
        std::filesystem::remove(sink_path);
        const Run r = relay(store_uri, "file:" + sink_path, "file_" + std::to_string(rep), n, batch, &file_checkpoints);
        file_rates.push_back(r.rate());
        file_cpu_us.push_back(1e6 * r.cpu_seconds / static_cast<double>(r.messages));
        if (f.flag("verbose"))
          std::printf("  rep %d relay -> file: %9.0f msg/s (%.3f s, CPU %.3f s)\n", rep + 1, r.rate(), r.seconds,
                      r.cpu_seconds);
        std::filesystem::remove(sink_path);
      }
      std::fflush(stdout);
    }
  }
  auto line = [&](const char* what, std::vector<double>& v, const std::vector<double>& cpu_us) {
    if (v.empty()) {  // variant not run; 0 keeps the ratios below printable
      v.push_back(0);
      return;
    }
    std::printf("  %-22s %10.0f msg/s  (median of %zu; min %.0f, max %.0f);  CPU %.2f us/msg (median)\n", what,
                bench::median(v), v.size(), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()), bench::median(cpu_us));
  };
  std::printf("results, %lld messages per run:\n", static_cast<long long>(n));
  line("tail read (baseline)", tail_rates, tail_cpu_us);
  line("relay -> null:", null_rates, null_cpu_us);
  line("relay -> file:", file_rates, file_cpu_us);
  const double null_rate = bench::median(null_rates);
  std::printf("  relay->null / tail read: %.3f;  relay->file / tail read: %.3f\n",
              null_rate / bench::median(tail_rates), bench::median(file_rates) / bench::median(tail_rates));
  std::printf("  checkpoint saves per run: %lld (null), %lld (file)\n", static_cast<long long>(null_checkpoints),
              static_cast<long long>(file_checkpoints));
  const double target = postgres ? 100000 : 250000;
  std::printf("  RELAY THROUGHPUT %s to null: %.0f msg/s   target >= %.0f: %s\n",
              postgres ? (f.flag("wal") ? "PostgreSQL WAL mode" : "PostgreSQL") : "SQLite", null_rate, target,
              null_rate >= target ? "met" : "MISSED");
  std::printf("  (peak RSS of this whole process, prefill included: %lld kB)\n",
              static_cast<long long>(bench::proc_status_kb("VmHWM")));
  std::filesystem::remove_all(dir);
#ifdef OUTBOX_WITH_POSTGRES
  if (pg && f.flag("wal")) {
    // Each consumer's slot would keep its WAL for ever, and a database with one cannot be dropped.
    bench::pg::Conn c(store_uri);
    bench::pg::exec(c,
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE database = current_database() AND NOT active");
  }
#endif
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

// Where one PostgreSQL put's time goes (issue 14, item 1), the counterpart of put_breakdown.cpp:
// on one connection, inside one open transaction per round (no commit timed), a naive outbox
// insert (the same row into a table of the outbox's layout, by a prepared INSERT of pre-serialized
// data: no validation, no UUID), the same with the put's per-key advisory lock, and the library's
// put in its variants, among them the client's own part (a put kept by a CommitWriter and never
// sent: validation, envelope and statement, no round trip). The library's CPU-only parts (encode,
// validation, UUIDv7) are the same as on SQLite: outbox_bench_put_breakdown times them. Parts
// alternate round by round (A B C ..., then reversed); figures are medians of rounds. On a server
// with wal_level=logical, also the WAL-mode put against pg_logical_emit_message of the same payload
// by a prepared statement (its floor). With --cold-ops, the client-only put once more with the
// caches evicted before each one. Prints figures; never fails on time.
// Usage: outbox_bench_pg_put_breakdown [--server URI] [--rounds 15] [--ops 2000] [--cold-ops 1000]
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "order_events.hpp"
#include "outbox/outbox.hpp"
#include "outbox/postgres.hpp"
#include "outbox/uuid.hpp"
#include "pg_util.hpp"

namespace {

using bench::pg::Conn;
using bench::pg::exec;

OrderCreated order(std::int64_t nr) {
  return OrderCreated{nr, "customer-" + std::to_string(nr % 1000), 1999 + nr % 100, "EUR", {"sku-1", "sku-22"}};
}

struct Part {
  std::string name;
  std::function<void(std::int64_t)> operation;  // one operation, given a running number
  std::vector<double> ns_per_op;                // one figure per round
  std::vector<double> cpu_ns_per_op{};          // the machine's busy CPU (client and server), per round
  int repeat = 1;  // operations per round: --ops times this (client-only parts take about 1 us each)
};

// A prepared statement run with text parameters; throws on error.
void run_prepared(PGconn* c, const char* name, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r =
      PQexecPrepared(c, name, static_cast<int>(values.size()), values.data(), nullptr, nullptr, /*resultFormat*/ 0);
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const std::string why = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(std::string(name) + ": " + why);
  }
  PQclear(r);
}

void prepare(PGconn* c, const char* name, const std::string& sql) {
  PGresult* r = PQprepare(c, name, sql.c_str(), 0, nullptr);
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string why = PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) throw std::runtime_error(std::string("prepare ") + name + ": " + why);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv,
                 {{"server", bench::pg::server_from_env()}, {"rounds", "15"}, {"ops", "2000"}, {"cold-ops", "1000"}},
                 "outbox_bench_pg_put_breakdown: one PostgreSQL put against a naive insert of the same row, "
                 "in us per operation (inside an open transaction: no commit is timed)");
  std::printf("outbox_bench_pg_put_breakdown%s\n", f.command_line().c_str());
  const int rounds = static_cast<int>(f.integer("rounds"));
  const std::int64_t ops = f.integer("ops");
  bench::pg::Database database(f.str("server"), "outbox_bench_pg_put_breakdown");
  std::printf("%s\n", database.settings().c_str());
  Conn c(database.uri());

  const outbox::postgres::Outbox box("orders", OrderEvents::registry());
  const outbox::postgres::Outbox quiet("quiet", OrderEvents::registry(), {.wake_relay = false});
  box.init(c);
  quiet.init(c);
  exec(c, bench::pg::kNaiveOutboxTable);
  prepare(c, "naive",
          "INSERT INTO naive (xid, id, type, key, data, headers, created_us) VALUES (pg_current_xact_id(), $1, $2, "
          "$3, $4, NULL, $5) RETURNING position");
  prepare(c, "naive_locked",
          "WITH l AS (SELECT pg_advisory_xact_lock(hashtextextended($3, 7))) INSERT INTO naive (xid, id, type, key, "
          "data, headers, created_us) SELECT pg_current_xact_id(), $1, $2, $3, $4, NULL, $5 FROM l RETURNING "
          "position");
  const outbox::Message typed_message = OrderEvents::make(order(1), "order-1");
  const std::string serialized = typed_message.data.dump();
  const std::string an_id = outbox::uuid_v7();
  auto writer = box.writer(c);
  auto quiet_writer = quiet.writer(c);

  // WAL mode (wal_level=logical only): the library's put against pg_logical_emit_message of the same
  // payload under the same prefix by a prepared statement of its own, the floor of a WAL-mode put.
  const bool logical = exec(c, "SHOW wal_level") == "logical";
  const outbox::postgres::Outbox wal("orders_wal", OrderEvents::registry(), {.mode = outbox::postgres::Mode::wal});
  std::string wal_prefix, wal_payload;
  if (logical) {
    wal.init(c);
    outbox::Message m = typed_message;
    const auto st = wal.prepare_put(m);
    wal_prefix = *st.params.at(0);
    wal_payload = *st.params.at(1);
    prepare(c, "raw_emit", "SELECT pg_logical_emit_message(true, $1::text, $2::text)");
    prepare(c, "raw_emit_as_put", st.sql);  // the put's own statement: the LSN as a number
  }
  auto wal_writer = wal.writer(c);

  // What the client alone spends on a put: a CommitWriter validates and composes the put's
  // statement and keeps it; dropped with the writer, it is never sent (no round trip).
  const auto keep_typed_put = [&](const outbox::postgres::Outbox& into, std::int64_t i) {
    auto w = into.commit_writer(c);
    OrderEvents::put(w, order(i), "order-" + std::to_string(i % 1000));
  };
  auto naive_params = [&](std::int64_t i) {
    return std::vector<std::string>{an_id, "order_created", "order-" + std::to_string(i % 1000), serialized,
                                    std::to_string(i)};
  };
  std::vector<Part> parts;
  parts.push_back(
      {"naive INSERT of the serialized row", [&](std::int64_t i) { run_prepared(c, "naive", naive_params(i)); }, {}});
  parts.push_back({"naive INSERT with the put's key lock",
                   [&](std::int64_t i) { run_prepared(c, "naive_locked", naive_params(i)); },
                   {}});
  parts.push_back({"Writer::put of a built Message", [&](std::int64_t) { writer.put(typed_message); }, {}});
  parts.push_back({"typed put (OrderEvents::put)",
                   [&](std::int64_t i) { OrderEvents::put(writer, order(i), "order-" + std::to_string(i % 1000)); },
                   {}});
  constexpr int kClientRepeat = 25;
  parts.push_back({"typed put kept by a CommitWriter, not sent (client)",
                   [&](std::int64_t i) { keep_typed_put(box, i); },
                   {},
                   {},
                   kClientRepeat});
  parts.push_back(
      {"typed put, wake_relay = false",
       [&](std::int64_t i) { OrderEvents::put(quiet_writer, order(i), "order-" + std::to_string(i % 1000)); },
       {}});

  if (logical) {
    parts.push_back({"WAL mode: raw pg_logical_emit_message, same payload",
                     [&](std::int64_t) {
                       run_prepared(c, "raw_emit", {wal_prefix, wal_payload});
                     },
                     {}});
    parts.push_back({"WAL mode: the same by the put's statement",
                     [&](std::int64_t) {
                       run_prepared(c, "raw_emit_as_put", {wal_prefix, wal_payload});
                     },
                     {}});
    parts.push_back({"WAL mode: typed put kept by a CommitWriter (client)",
                     [&](std::int64_t i) { keep_typed_put(wal, i); },
                     {},
                     {},
                     kClientRepeat});
    parts.push_back(
        {"WAL mode: typed put (OrderEvents::put)",
         [&](std::int64_t i) { OrderEvents::put(wal_writer, order(i), "order-" + std::to_string(i % 1000)); },
         {}});
  }

  std::int64_t counter = 0;
  auto run_round = [&](Part& p) {
    exec(c, "BEGIN");
    const auto cpu_start = bench::machine_busy_cpu_ns();
    const auto start = bench::mono_ns();
    const std::int64_t n = ops * p.repeat;
    for (std::int64_t i = 0; i < n; ++i) p.operation(++counter);
    const auto elapsed = bench::mono_ns() - start;
    const auto cpu = bench::machine_busy_cpu_ns() - cpu_start;
    exec(c, "COMMIT");
    p.ns_per_op.push_back(static_cast<double>(elapsed) / static_cast<double>(n));
    p.cpu_ns_per_op.push_back(static_cast<double>(cpu) / static_cast<double>(n));
  };
  for (auto& p : parts) run_round(p);  // warm-up, not counted
  for (auto& p : parts) {
    p.ns_per_op.clear();
    p.cpu_ns_per_op.clear();
  }
  bench::alternate_rounds(parts, rounds, run_round, [&](int r) {
    // Keep the tables small and alike from round to round.
    exec(c, "TRUNCATE naive, outbox_orders, outbox_quiet");
    std::fprintf(stderr, "round %d of %d done\n", r + 1, rounds);
  });
  std::printf(
      "%lld operations per round (the client-only parts %d times as many), %d rounds alternating; median us per "
      "operation (min, max), and the machine's busy CPU per operation (client and server; median of rounds):\n",
      static_cast<long long>(ops), kClientRepeat, rounds);
  std::map<std::string, double> median, cpu;
  for (auto& p : parts) {
    median[p.name] = bench::median(p.ns_per_op);
    cpu[p.name] = bench::median(p.cpu_ns_per_op);
    std::printf("  %-52s %8.1f us  (%.1f, %.1f)   CPU %6.1f us\n", p.name.c_str(), median[p.name] / 1000,
                *std::min_element(p.ns_per_op.begin(), p.ns_per_op.end()) / 1000,
                *std::max_element(p.ns_per_op.begin(), p.ns_per_op.end()) / 1000, cpu[p.name] / 1000);
  }
  const double naive_ns = median["naive INSERT of the serialized row"];
  const double locked_ns = median["naive INSERT with the put's key lock"];
  const double put_ns = median["typed put (OrderEvents::put)"];
  std::printf("  RATIO naive insert / typed put (inside a transaction, no commit): %.3f   target >= 0.95: %s\n",
              naive_ns / put_ns, naive_ns / put_ns >= 0.95 ? "met" : "MISSED");
  std::printf("  RATIO naive insert with the key lock / typed put: %.3f\n", locked_ns / put_ns);
  if (logical) {
    const std::string raw = "WAL mode: raw pg_logical_emit_message, same payload",
                      put = "WAL mode: typed put (OrderEvents::put)";
    std::printf("  RATIO raw emit / WAL-mode typed put: %.3f (time), %.3f (CPU)\n", median[raw] / median[put],
                cpu[raw] / cpu[put]);
    // Its slot would keep WAL for ever, and a database with a logical slot cannot be dropped.
    exec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()");
  } else {
    std::printf("  WAL mode: skipped (wal_level is not logical; bench/run_postgres.sh starts a server with it)\n");
  }

  // The same client-only put, and the naive row's parameters, each after reading 64 MB (more than
  // the caches hold), so that code and data come from memory: what a client whose caches other
  // processes evicted while it waited for the server pays (with four clients and their server on
  // two cores, a put added several times its warm cost in client CPU; docs/benchmarks.md).
  if (const std::int64_t cold_ops = f.integer("cold-ops"); cold_ops > 0) {
    std::vector<char> junk(64 << 20);
    auto evict = [&] {
      for (std::size_t i = 0; i < junk.size(); i += 64) ++junk[i];
    };
    auto cold = [&](const char* what, const std::function<void(std::int64_t)>& operation) {
      std::vector<double> ns;
      for (std::int64_t i = 0; i < cold_ops; ++i) {
        evict();
        const auto start = bench::mono_ns();
        operation(++counter);
        ns.push_back(static_cast<double>(bench::mono_ns() - start));
      }
      std::printf("  %-52s %8.1f us  (p90 %.1f)\n", what, bench::median(ns) / 1000, bench::percentile(ns, 90) / 1000);
    };
    exec(c, "BEGIN");
    std::printf("%lld operations each after reading 64 MB (--cold-ops), median us per operation:\n",
                static_cast<long long>(cold_ops));
    cold("cold: typed put kept by a CommitWriter (client)", [&](std::int64_t i) { keep_typed_put(box, i); });
    cold("cold: the naive row's parameters (client)", [&](std::int64_t i) { (void)naive_params(i); });
    exec(c, "ROLLBACK");
  }
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

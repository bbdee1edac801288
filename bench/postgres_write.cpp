// PostgreSQL benchmark 1 - write overhead: a service's transaction that inserts one business row
// (BEGIN; INSERT INTO orders ...; COMMIT, synchronous_commit on), against the same transaction
// plus one outbox put (OrderEvents::put of a typed OrderCreated through the outbox's Writer, on the
// same connection), with 1 and with 4 client connections each running transactions back to back.
//
// The variants run in alternating rounds (A B, B A, ...) on the same connections and tables, so
// drift (WAL growth, checkpoints, autovacuum, other load) falls on both equally. Printed: the
// throughput of each and the ratio with-put / without, per client count, and the same ratio in
// the whole machine's busy CPU per transaction (clients and server; meaningful with nothing else
// running), which a commit's varying flush time moves far less than throughput. Then the put through
// Outbox::put_and_commit (its statement sent in the COMMIT's flight: no round trip of its own)
// against the same bare transaction. Then the same with each transaction sent in one flight
// (libpq pipeline mode, the put through Outbox::prepare_put), and (diagnostic) with the put's
// statement prepared once per connection.
//
// Then (--naive-clients) the put against a naive outbox: the same transaction with the same event
// row inserted by hand (prepared INSERT of pre-serialized data, no validation, no UUID, no key lock)
// into a table of the outbox's layout, commits included (issue 14: put / naive >= 0.95). And
// put_and_commit against the naive row sent with the COMMIT in one flight (as put_and_commit
// sends the put): the same round trips, so the ratio is what the library adds over the row.
//
// In WAL mode (--wal-raw-clients) the same comparison against a hand-written emit: the envelope
// encoded once, pg_logical_emit_message by a statement prepared once, sent with the COMMIT as
// put_and_commit sends it; and that emit against the bare transaction, the floor no WAL-mode put
// can go below. With each ratio, the client process's own CPU per transaction (getrusage).
//
// (--naive-locked-clients, diagnostic) The naive row sent with COMMIT, with and without what a
// table-mode put adds on the server (the key lock before the insert, the wake-up step in
// RETURNING), and put_and_commit against the naive row with them: the server's share and the
// client's share of what put_and_commit adds over the naive row.
//
// (--made-clients, diagnostic) The typed put as above against the put of an OrderEvents::make
// message (a JSON value, which the registry checks and serializes), both through put_and_commit,
// in table and in WAL mode: what the typed way saves.
//
// Then the cost of the wake-up mechanism: the same transaction with a put, into an outbox written
// with OutboxOptions::wake_relay=true whose relay sleeps until woken, against one written with
// wake_relay=false whose relay polls (StoreOptions::wakeups=false); both relays run throughout.
//
// Then (diagnostic, for a schema decision) what the outbox table's index on created_us costs: the
// same transaction with a put into an outbox as init() creates it, against one whose created_us
// index was dropped; and afterwards the time of the store's queries that read created_us
// (Store::status, Store::enforce_retention by age) on each of the two tables.
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "bench_util.hpp"
#include "order_events.hpp"
#include "outbox/outbox.hpp"
#include "outbox/postgres.hpp"
#include "pg_util.hpp"

namespace {

using bench::pg::Conn;
using bench::pg::exec;

// What a transaction does besides BEGIN; INSERT INTO orders ...; COMMIT: nothing (box null, the
// baseline), or one put into `box`.
// pipelined: the whole transaction goes out in one network flight (libpq pipeline mode; the put
// through Outbox::prepare_put), so the put adds no round trip; the event's order number is then
// the client's own, not the business row's id.
// prepared (diagnostic): the put's statement (from Outbox::prepare_put) as a named prepared
// statement, PQprepare'd once per connection, instead of put()'s PQexecParams, which has the
// server parse and plan it on every call.
struct Variant {
  std::string name;
  const outbox::postgres::Outbox* box = nullptr;
  bool pipelined = false;
  bool prepared = false;
  bool naive = false;  // the event row inserted by hand into table `naive` (box unused)
  // The put through Outbox::put_and_commit: its statement rides in the COMMIT's flight.
  bool on_commit = false;
  // What a hand-written WAL-mode outbox does (box unused): pg_logical_emit_message of an envelope
  // encoded once up front, by a statement prepared once per connection, in the COMMIT's flight.
  bool raw_emit = false;
  // The put (plain or on_commit) of an OrderEvents::make message: a JSON value the registry then
  // checks and serializes. Otherwise the typed way, as the SQLite benchmark puts: OrderEvents::put
  // through a Writer or CommitWriter, the event written straight to text.
  bool made = false;
  // With naive and on_commit: the naive row with the put's key lock and wake-up step.
  bool locked = false;
};

struct Round {
  std::int64_t txns = 0;
  double seconds = 0;
  std::int64_t busy_cpu_ns = 0;                   // the whole machine's (clients and server)
  double client_user_s = 0, client_system_s = 0;  // this process's: the clients alone
  double rate() const { return static_cast<double>(txns) / seconds; }
  double cpu_us_per_txn() const { return static_cast<double>(busy_cpu_ns) / 1e3 / static_cast<double>(txns); }
  double client_user_us_per_txn() const { return client_user_s * 1e6 / static_cast<double>(txns); }
  double client_system_us_per_txn() const { return client_system_s * 1e6 / static_cast<double>(txns); }
};

// One client: a connection and the transaction it repeats.
struct Client {
  explicit Client(const std::string& uri) : conn(uri) { exec(conn, "SET synchronous_commit = on"); }
  Conn conn;
  std::int64_t sequence = 0;
  std::int64_t put_ns = 0;             // time spent inside Outbox::put (a round trip included)
  bool prepared_put = false;           // "bench_put" prepared on this connection
  bool prepared_naive = false;         // "bench_naive" prepared on this connection
  bool prepared_emit = false;          // "bench_emit" prepared on this connection
  bool prepared_naive_locked = false;  // "bench_naive_locked" prepared on this connection

  void transaction(const Variant& v, int id) {
    if (v.pipelined) return pipelined_transaction(v, id);
    ++sequence;
    static const std::vector<std::string> items = {"sku-1001", "sku-2002", "sku-3003"};
    const std::string customer = "customer-" + std::to_string(sequence % 1000);
    const std::string amount = std::to_string(1000 + sequence % 9000);
    exec(conn, "BEGIN");
    const char* params[] = {customer.c_str(), amount.c_str(), "EUR", "sku-1001,sku-2002,sku-3003"};
    PGresult* r = PQexecParams(conn,
                               "INSERT INTO orders (customer, amount_cents, currency, items, created)"
                               " VALUES ($1, $2, $3, $4, now()) RETURNING id",
                               4, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      std::fprintf(stderr, "client %d: INSERT INTO orders: %s", id, PQresultErrorMessage(r));
      std::exit(1);
    }
    const std::int64_t ordernr = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
    PQclear(r);
    if (v.raw_emit) {
      raw_emit_with_commit(id);
      return;  // committed
    } else if (v.naive && v.on_commit && v.locked) {
      naive_locked_insert_with_commit(ordernr, id);
      return;  // committed
    } else if (v.naive && v.on_commit) {
      naive_insert_with_commit(ordernr, id);
      return;  // committed
    } else if (v.naive) {
      naive_insert(ordernr, id);
    } else if (v.box && v.prepared) {
      const std::int64_t t0 = bench::mono_ns();
      outbox::Message m = OrderEvents::make(OrderCreated{ordernr, customer, std::stoll(amount), "EUR", items},
                                            "order-" + std::to_string(ordernr));
      const auto put = v.box->prepare_put(m);
      prepare_once(prepared_put, "bench_put", put.sql, id);
      std::vector<const char*> values;
      for (const auto& p : put.params) values.push_back(p ? p->c_str() : nullptr);
      PGresult* pr =
          PQexecPrepared(conn, "bench_put", static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0);
      if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        std::fprintf(stderr, "client %d: prepared put: %s", id, PQresultErrorMessage(pr));
        std::exit(1);
      }
      PQclear(pr);
      put_ns += bench::mono_ns() - t0;
    } else if (v.box) {
      const std::int64_t t0 = bench::mono_ns();
      const OrderCreated event{ordernr, customer, std::stoll(amount), "EUR", items};
      std::string key = "order-" + std::to_string(ordernr);
      if (v.on_commit) {  // its put is not timed apart
        if (v.made) {
          v.box->put_and_commit(conn, OrderEvents::make(event, std::move(key)));
        } else {
          auto w = v.box->commit_writer(conn);
          OrderEvents::put(w, event, std::move(key));
          w.commit();
        }
        return;  // committed
      }
      if (v.made) {
        v.box->put(conn, OrderEvents::make(event, std::move(key)));
      } else {
        auto w = v.box->writer(conn);
        OrderEvents::put(w, event, std::move(key));
      }
      put_ns += bench::mono_ns() - t0;
    }
    exec(conn, "COMMIT");
  }

  // What a hand-written outbox does: the event row, its data serialized once up front (the same
  // OrderCreated document a put would write), by a statement prepared once per connection.
  void naive_insert(std::int64_t ordernr, int id) {
    prepare_naive(id);
    const NaiveRow row(ordernr);
    PGresult* r = PQexecPrepared(conn, "bench_naive", 4, row.values, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      std::fprintf(stderr, "client %d: naive INSERT: %s", id, PQresultErrorMessage(r));
      std::exit(1);
    }
    PQclear(r);
  }

  // The naive row and COMMIT in one flight (pipeline mode), as put_and_commit sends a put.
  void naive_insert_with_commit(std::int64_t ordernr, int id) {
    prepare_naive(id);
    const NaiveRow row(ordernr);
    with_commit_in_one_flight(id, "naive INSERT with COMMIT", [&] {
      return PQsendQueryPrepared(conn, "bench_naive", 4, row.values, nullptr, nullptr, 0);
    });
  }

  // The naive row with what a table-mode put adds on the server: the key lock before the insert
  // and the wake-up step in RETURNING, in the shape of the put's statement
  // (src/store/postgres/put_statements.cpp; the lock keyed by the order number, the wake-up lock one of
  // its own), and COMMIT, in one flight. Against the naive row: what those locks cost the server;
  // put_and_commit against it: what the library adds on the client.
  void naive_locked_insert_with_commit(std::int64_t ordernr, int id) {
    prepare_once(prepared_naive_locked, "bench_naive_locked",
                 "WITH l AS (SELECT pg_advisory_xact_lock($5::bigint) AS locked) INSERT INTO naive"
                 " (xid, id, type, key, data, headers, created_us) SELECT pg_current_xact_id(), $1, 'order_created',"
                 " $2, $3, NULL, $4 FROM l RETURNING position, CASE WHEN pg_try_advisory_xact_lock_shared(1,"
                 " 7) THEN '' ELSE pg_notify('outbox_naive', '')::text END",
                 id);
    const NaiveRow row(ordernr);
    const std::string lock = std::to_string(ordernr);
    const char* values[] = {row.values[0], row.values[1], row.values[2], row.values[3], lock.c_str()};
    with_commit_in_one_flight(id, "naive INSERT with locks and COMMIT", [&] {
      return PQsendQueryPrepared(conn, "bench_naive_locked", 5, values, nullptr, nullptr, 0);
    });
  }

  // A WAL-mode put's floor: the emit of the same envelope a put writes (a header line of id, type,
  // time and key, then the data), encoded once, and COMMIT, in one flight as put_and_commit sends.
  void raw_emit_with_commit(int id) {
    prepare_once(prepared_emit, "bench_emit",
                 "SELECT (pg_logical_emit_message(true, $1::text, $2::text) - '0/0'::pg_lsn)::bigint", id);
    // Encoded once, as a hand-written outbox might keep one envelope.
    static const std::string payload = [] {
      const nlohmann::json header = {{"v", 1},
                                     {"id", NaiveRow::id()},
                                     {"type", "order_created"},
                                     {"created_us", bench::mono_ns() / 1000},
                                     {"key", "order-1"}};
      return header.dump() + "\n" + NaiveRow::data();
    }();
    const char* values[] = {"outbox:orders_wal", payload.c_str()};
    with_commit_in_one_flight(id, "raw emit with COMMIT",
                              [&] { return PQsendQueryPrepared(conn, "bench_emit", 2, values, nullptr, nullptr, 0); });
  }

  // Sends one statement that returns a row (send_statement() queues it) and COMMIT in one flight,
  // and checks both results.
  template <class SendStatement>
  void with_commit_in_one_flight(int id, const char* doing, SendStatement send_statement) {
    auto fail = [&](const char* what) {
      std::fprintf(stderr, "client %d: %s: %s: %s", id, doing, what, PQerrorMessage(conn));
      std::exit(1);
    };
    if (PQenterPipelineMode(conn) != 1) fail("pipeline mode");
    if (send_statement() != 1) fail("send");
    if (PQsendQueryParams(conn, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) fail("send COMMIT");
    if (PQpipelineSync(conn) != 1) fail("pipeline sync");
    for (const ExecStatusType expected : {PGRES_TUPLES_OK, PGRES_COMMAND_OK}) {
      PGresult* r = PQgetResult(conn);
      if (PQresultStatus(r) != expected) fail(PQresultErrorMessage(r));
      PQclear(r);
      if (PQgetResult(conn) != nullptr) fail("more results than expected");
    }
    PGresult* sync = PQgetResult(conn);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) fail("no sync");
    PQclear(sync);
    if (PQexitPipelineMode(conn) != 1) fail("leaving pipeline mode");
  }

  // The naive row's parameters: fixed data and id, the order's key, a creation time.
  struct NaiveRow {
    explicit NaiveRow(std::int64_t ordernr)
        : key("order-" + std::to_string(ordernr)), created(std::to_string(bench::mono_ns() / 1000)) {}
    std::string key, created;
    const char* values[4] = {id().c_str(), key.c_str(), data().c_str(), created.c_str()};
    static const std::string& data() {
      static const std::string d =
          OrderEvents::make(OrderCreated{1, "customer-1", 1000, "EUR", {"sku-1001", "sku-2002", "sku-3003"}}, "order-1")
              .data.dump();
      return d;
    }
    static const std::string& id() {
      static const std::string an_id = outbox::uuid_v7();
      return an_id;
    }
  };

  // Prepares `sql` as `name` on this connection the first time (`done` remembers it).
  void prepare_once(bool& done, const char* name, const std::string& sql, int id) {
    if (done) return;
    PGresult* p = PQprepare(conn, name, sql.c_str(), 0, nullptr);
    if (PQresultStatus(p) != PGRES_COMMAND_OK) {
      std::fprintf(stderr, "client %d: PQprepare %s: %s", id, name, PQresultErrorMessage(p));
      std::exit(1);
    }
    PQclear(p);
    done = true;
  }

  void prepare_naive(int id) {
    prepare_once(prepared_naive, "bench_naive",
                 "INSERT INTO naive (xid, id, type, key, data, headers, created_us)"
                 " VALUES (pg_current_xact_id(), $1, 'order_created', $2, $3, NULL, $4) RETURNING position",
                 id);
  }

  void pipelined_transaction(const Variant& v, int id) {
    ++sequence;
    static const std::vector<std::string> items = {"sku-1001", "sku-2002", "sku-3003"};
    const std::string customer = "customer-" + std::to_string(sequence % 1000);
    const std::int64_t amount = 1000 + sequence % 9000;
    const std::int64_t ordernr = static_cast<std::int64_t>(id) * 1'000'000'000 + sequence;
    auto fail = [&](const char* what) {
      std::fprintf(stderr, "client %d: %s: %s", id, what, PQerrorMessage(conn));
      std::exit(1);
    };
    auto send = [&](const std::string& sql, const std::vector<std::optional<std::string>>& params) {
      std::vector<const char*> values;
      for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
      if (PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                            nullptr, 0) != 1) {
        fail("send");
      }
    };
    if (PQenterPipelineMode(conn) != 1) fail("pipeline mode");
    send("BEGIN", {});
    send("INSERT INTO orders (customer, amount_cents, currency, items, created) VALUES ($1, $2, $3, $4, now())",
         {customer, std::to_string(amount), std::string("EUR"), std::string("sku-1001,sku-2002,sku-3003")});
    int statements = 3;
    if (v.box) {
      outbox::Message m =
          OrderEvents::make(OrderCreated{ordernr, customer, amount, "EUR", items}, "order-" + std::to_string(ordernr));
      const auto put = v.box->prepare_put(m);
      send(put.sql, put.params);
      ++statements;
    }
    send("COMMIT", {});
    if (PQpipelineSync(conn) != 1) fail("pipeline sync");
    for (int i = 0; i < statements; ++i) {
      PGresult* r = PQgetResult(conn);
      const auto st = PQresultStatus(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        std::fprintf(stderr, "client %d: pipelined statement %d: %s", id, i, PQresultErrorMessage(r));
        std::exit(1);
      }
      PQclear(r);
      if (PQgetResult(conn) != nullptr) fail("pipeline: more results than expected");
    }
    PGresult* sync = PQgetResult(conn);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) fail("pipeline: no sync");
    PQclear(sync);
    if (PQexitPipelineMode(conn) != 1) fail("leaving pipeline mode");
  }
};

// All clients run variant `v` at once for `seconds`; returns the transactions of all of them.
Round round(std::vector<std::unique_ptr<Client>>& clients, const Variant& v, double seconds) {
  std::atomic<std::int64_t> total{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::int64_t start = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    threads.emplace_back([&, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const std::int64_t deadline = bench::mono_ns() + static_cast<std::int64_t>(seconds * 1e9);
      std::int64_t n = 0;
      do {
        clients[i]->transaction(v, static_cast<int>(i));
        ++n;
      } while (bench::mono_ns() < deadline);
      total += n;
    });
  }
  const std::int64_t cpu_start = bench::machine_busy_cpu_ns();
  const bench::CpuTimes client_start = bench::cpu_self();
  start = bench::mono_ns();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const bench::CpuTimes client_end = bench::cpu_self();
  return {total.load(), bench::seconds_since(start), bench::machine_busy_cpu_ns() - cpu_start,
          client_end.user_s - client_start.user_s, client_end.system_s - client_start.system_s};
}

// Runs variants a (baseline) and b in alternating rounds on `clients_n` connections; prints the
// rates and the ratio b / a.
// target <= 0: a diagnostic without a target.
void measure(const std::string& uri, int clients_n, int rounds, double round_seconds, bool verbose, const Variant& a,
             const Variant& b, const std::string& what, double target) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < clients_n; ++i) clients.push_back(std::make_unique<Client>(uri));
  const Variant* variants[2] = {&a, &b};
  auto put_ns = [&] {
    std::int64_t n = 0;
    for (const auto& c : clients) n += c->put_ns;
    return n;
  };
  for (const Variant* v : variants) round(clients, *v, round_seconds);  // warm-up, not counted

  const std::int64_t put_ns_before = put_ns();
  std::vector<Round> results[2];
  std::vector<double> pair_ratio;
  for (int i = 0; i < rounds; ++i) {
    Round got[2];
    for (int k = 0; k < 2; ++k) {
      const int v = i % 2 == 0 ? k : 1 - k;
      got[v] = round(clients, *variants[v], round_seconds);
      results[v].push_back(got[v]);
    }
    pair_ratio.push_back(got[1].rate() / got[0].rate());
    if (verbose) {
      std::printf("  round %2d: %s %8.0f txn/s, %s %8.0f txn/s, ratio %.3f\n", i + 1, a.name.c_str(), got[0].rate(),
                  b.name.c_str(), got[1].rate(), pair_ratio.back());
    }
  }
  auto totals = [](const std::vector<Round>& v) {
    Round t;
    for (const auto& r : v) {
      t.txns += r.txns;
      t.seconds += r.seconds;
      t.busy_cpu_ns += r.busy_cpu_ns;
      t.client_user_s += r.client_user_s;
      t.client_system_s += r.client_system_s;
    }
    return t;
  };
  std::printf("%s, %d client connection%s, %d alternating rounds of %.0f ms per variant\n", what.c_str(), clients_n,
              clients_n == 1 ? "" : "s", rounds, round_seconds * 1000);
  for (int v = 0; v < 2; ++v) {
    const Round t = totals(results[v]);
    std::vector<double> rates;
    for (const auto& r : results[v]) rates.push_back(r.rate());
    std::printf("  %-40s %9.0f txn/s  (%lld txns; round median %.0f, min %.0f, max %.0f)  %.1f us/txn per client\n",
                (variants[v]->name + ":").c_str(), t.rate(), static_cast<long long>(t.txns), bench::median(rates),
                *std::min_element(rates.begin(), rates.end()), *std::max_element(rates.begin(), rates.end()),
                1e6 * clients_n / t.rate());
  }
  const double ratio = totals(results[1]).rate() / totals(results[0]).rate();
  // The same comparison in CPU: what a transaction costs the machine (clients and server). Where
  // the machine's cores are the limit (several connections), throughput follows it; it moves far
  // less from round to round than throughput, which a commit's flush time also decides.
  const double cpu_ratio = totals(results[0]).cpu_us_per_txn() / totals(results[1]).cpu_us_per_txn();
  std::printf("  machine CPU per transaction: %s %.1f us, %s %.1f us; CPU RATIO %s (%d client%s): %.3f\n",
              a.name.c_str(), totals(results[0]).cpu_us_per_txn(), b.name.c_str(), totals(results[1]).cpu_us_per_txn(),
              what.c_str(), clients_n, clients_n == 1 ? "" : "s", cpu_ratio);
  // Of that, the benchmark process's own (the clients: libpq, the library, the kernel's side of
  // their sockets); the rest is the server's and the disk's.
  std::printf("  client process CPU per transaction, user + system: %s %.1f + %.1f us, %s %.1f + %.1f us\n",
              a.name.c_str(), totals(results[0]).client_user_us_per_txn(),
              totals(results[0]).client_system_us_per_txn(), b.name.c_str(),
              totals(results[1]).client_user_us_per_txn(), totals(results[1]).client_system_us_per_txn());
  if (!a.box && b.box && !b.pipelined && !b.on_commit) {  // put_and_commit's put is not timed apart
    std::printf(
        "  time added per transaction (per client): %.1f us, of which inside the put (validation, encoding,"
        " one round trip) %.1f us\n",
        1e6 * clients_n / totals(results[1]).rate() - 1e6 * clients_n / totals(results[0]).rate(),
        1e6 * static_cast<double>(put_ns() - put_ns_before) / 1e9 / static_cast<double>(totals(results[1]).txns));
  }
  std::printf("  RATIO %s (%d client%s): %.3f   [per-round median %.3f, min %.3f, max %.3f]", what.c_str(), clients_n,
              clients_n == 1 ? "" : "s", ratio, bench::median(pair_ratio),
              *std::min_element(pair_ratio.begin(), pair_ratio.end()),
              *std::max_element(pair_ratio.begin(), pair_ratio.end()));
  if (target > 0) std::printf("   target >= %.2f: %s", target, ratio >= target ? "met" : "MISSED");
  std::printf("\n\n");
  std::fflush(stdout);
}

// A relay tailing `outbox` into null: for as long as it lives (the wake-up cost is measured with
// one running, since wake-ups only cost anything while a relay listens).
class BackgroundRelay {
 public:
  BackgroundRelay(const std::string& uri, const std::string& outbox, bool wakeups)
      : store_(outbox::open_store(uri, store_options(wakeups))), sink_(outbox::open_sink("null:")) {
    outbox::RelayOptions options;
    options.outbox = outbox;
    relay_ = std::make_unique<outbox::Relay>(*store_, *sink_, options);
    thread_ = std::thread([this] {
      try {
        relay_->run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "background relay failed: %s\n", e.what());
        std::_Exit(1);
      }
    });
  }
  ~BackgroundRelay() {
    relay_->stop();
    thread_.join();
  }
  std::int64_t acknowledged() const { return relay_->stats().acknowledged; }

 private:
  static outbox::StoreOptions store_options(bool wakeups) {
    outbox::StoreOptions o;
    o.wakeups = wakeups;
    return o;
  }
  std::unique_ptr<outbox::Store> store_;
  std::unique_ptr<outbox::Sink> sink_;
  std::unique_ptr<outbox::Relay> relay_;
  std::thread thread_;
};

// Puts `n` messages into `box` in transactions of 1,000, so that the readers' timings below see a
// table of some size.
void prefill(const std::string& uri, const outbox::postgres::Outbox& box, std::int64_t n) {
  Conn c(uri);
  static const std::vector<std::string> items = {"sku-1001", "sku-2002", "sku-3003"};
  for (std::int64_t i = 1; i <= n;) {
    exec(c, "BEGIN");
    for (int j = 0; j < 1000 && i <= n; ++j, ++i) {
      box.put(c, OrderEvents::make(OrderCreated{i, "customer-1", 1000, "EUR", items}, "order-" + std::to_string(i)));
    }
    exec(c, "COMMIT");
  }
}

// WAL bytes per transaction of each variant: `n` transactions of each on one connection, in
// alternating blocks of 100 (a checkpoint's full-page images fall on both). Counts all WAL of the
// cluster, so nothing else should be writing to it meanwhile.
void print_wal_per_txn(const std::string& uri, const Variant& a, const Variant& b, int n) {
  Client c(uri);
  double bytes[2] = {0, 0};
  const Variant* variants[2] = {&a, &b};
  for (int done = 0; done < n; done += 100) {
    for (int v = 0; v < 2; ++v) {
      const std::string before = exec(c.conn, "SELECT pg_current_wal_insert_lsn()");
      for (int i = 0; i < 100; ++i) c.transaction(*variants[v], 0);
      bytes[v] += std::stod(exec(c.conn, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '" + before + "')"));
    }
  }
  const int txns = (n + 99) / 100 * 100;
  std::printf("WAL per transaction (%d of each, alternating blocks of 100): %s %.0f bytes, %s %.0f bytes\n\n", txns,
              a.name.c_str(), bytes[0] / txns, b.name.c_str(), bytes[1] / txns);
}

// The store's queries that read created_us, timed on each outbox in alternation: status (with one
// consumer, caught up: the lag query) and retention by age that finds nothing old enough (the
// steady state of a retention loop with, here, a 1-day limit).
void time_created_us_readers(const std::string& uri, const std::vector<std::string>& outboxes, int reps) {
  auto store = outbox::open_store(uri);
  for (const auto& o : outboxes) {  // one consumer that has passed everything
    store->acquire({o, "caught_up", "bench"}, std::chrono::seconds(60));
    store->save_checkpoint({o, "caught_up", "bench"}, store->checkpoint_at_end(o), std::chrono::seconds(60), "");
    store->release({o, "caught_up", "bench"});
  }
  outbox::RetentionPolicy by_age;
  by_age.max_age = std::chrono::hours(24);
  std::vector<std::vector<double>> status_ms(outboxes.size()), retention_ms(outboxes.size());
  std::int64_t deleted = 0;
  for (int r = 0; r < reps; ++r) {
    for (std::size_t k = 0; k < outboxes.size(); ++k) {
      const std::size_t i = r % 2 == 0 ? k : outboxes.size() - 1 - k;
      std::int64_t t0 = bench::mono_ns();
      store->status(outboxes[i]);
      status_ms[i].push_back(static_cast<double>(bench::mono_ns() - t0) / 1e6);
      t0 = bench::mono_ns();
      deleted += store->enforce_retention(outboxes[i], by_age).deleted;
      retention_ms[i].push_back(static_cast<double>(bench::mono_ns() - t0) / 1e6);
    }
  }
  std::printf("readers of created_us, median of %d calls each, alternating (one consumer, caught up):\n", reps);
  for (std::size_t i = 0; i < outboxes.size(); ++i) {
    std::printf(
        "  %-22s %8lld rows: status %8.3f ms (max %8.3f); retention by age, nothing to delete %8.3f ms"
        " (max %8.3f)\n",
        (outboxes[i] + ":").c_str(), static_cast<long long>(store->status(outboxes[i]).count),
        bench::median(status_ms[i]), *std::max_element(status_ms[i].begin(), status_ms[i].end()),
        bench::median(retention_ms[i]), *std::max_element(retention_ms[i].begin(), retention_ms[i].end()));
  }
  if (deleted != 0)
    std::printf("  (retention deleted %lld messages: the timings are not of the idle case)\n",
                static_cast<long long>(deleted));
  std::printf("\n");
}

std::vector<int> int_list(const std::string& list) {
  std::vector<int> out;
  for (std::size_t start = 0; start < list.size();) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(std::stoi(list.substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(
      argc, argv,
      {{"server", bench::pg::server_from_env()},
       {"clients", "1,4"},
       {"wake-clients", "1,4"},
       {"pipelined-clients", "1,4"},
       {"on-commit-clients", "1,4"},
       {"prepared-clients", "1,4"},
       {"index-clients", "1,4"},
       {"wal-clients", "1,4"},
       {"naive-clients", "1,4"},
       {"naive-on-commit-clients", "1,4"},
       {"made-clients", ""},
       {"naive-locked-clients", ""},
       {"wal-raw-clients", "1,4"},
       {"index-rows", "0"},
       {"reader-reps", "21"},
       {"rounds", "10"},
       {"round-ms", "500"},
       {"verbose", "false"}},
      "outbox_bench_pg_write: PostgreSQL transaction with one business row, without and with an outbox put;\n"
      "then (--on-commit-clients, empty to skip) the put through put_and_commit, in the COMMIT's flight;\n"
      "then (--naive-clients, empty to skip) the put against a naive insert of the same row, commits included;\n"
      "then (--naive-on-commit-clients, empty to skip) put_and_commit against the naive row sent with COMMIT;\n"
      "then (--wal-clients, empty to skip; needs wal_level=logical) the same with the outbox in WAL mode;\n"
      "and (--wal-raw-clients, empty to skip) WAL-mode put_and_commit against a hand-written emit of the same\n"
      "envelope sent with COMMIT, and that emit against the bare transaction (the WAL put's floor);\n"
      "(--made-clients, empty to skip) the typed put against the put of an OrderEvents::make message, in both modes;\n"
      "(--naive-locked-clients, empty to skip) the naive row with COMMIT with and without the put's key lock and\n"
      "wake-up step, and put_and_commit against the naive row with them;\n"
      "then (--wake-clients, empty to skip) puts with wake-ups on against off, a relay tailing each outbox;\n"
      "then (--index-clients, empty to skip) puts into an outbox without its created_us index against one\n"
      "with it (each first filled with --index-rows messages), and the time of the store's queries that\n"
      "read created_us on each.");
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_pg_write%s\n", outbox::redact_uri(f.command_line()).c_str());
  bench::pg::Database db(f.str("server"), "bench_write");
  bench::print_machine(std::filesystem::temp_directory_path());
  std::printf("server: %s\n\n", db.settings().c_str());
  {
    Conn c(db.uri());
    outbox::postgres::Outbox("orders", OrderEvents::registry()).init(c);
    exec(c,
         "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer text NOT NULL,"
         " amount_cents bigint NOT NULL, currency text NOT NULL, items text NOT NULL, created timestamptz NOT NULL)");
    exec(c, bench::pg::kNaiveOutboxTable);
  }
  const int rounds = static_cast<int>(f.integer("rounds"));
  const double round_seconds = f.num("round-ms") / 1000.0;
  {
    // 1. The put's cost: nobody tails this outbox, so its wake-up step finds no sleeper.
    const outbox::postgres::Outbox box("orders", OrderEvents::registry());
    const Variant without{"without put", nullptr}, with{"with put", &box};
    for (int n : int_list(f.str("clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, with, "with/without put",
              n == 1 ? 0.90 : 0.97);
    }
    // Diagnostic: the put as a prepared statement (no parse/plan per call).
    const Variant with_prepared{"with put, prepared statement", &box, false, true};
    for (int n : int_list(f.str("prepared-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, with_prepared,
              "with/without put, prepared statement", n == 1 ? 0.90 : 0.97);
    }
    // The put against the naive outbox (both with commits): what the library adds over the row.
    const Variant naive{"naive insert", nullptr, false, false, true};
    for (int n : int_list(f.str("naive-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), naive, with, "put/naive insert", 0.95);
    }
    // The put riding in the COMMIT's flight (Outbox::put_and_commit): no round trip of its own,
    // against the same bare transaction (BEGIN, INSERT and COMMIT each a round trip).
    const Variant on_commit{"with put_and_commit", &box, false, false, false, true};
    for (int n : int_list(f.str("on-commit-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, on_commit,
              "with/without put, put_and_commit", n == 1 ? 0.93 : 0.97);
    }
    // put_and_commit against the naive row in the COMMIT's flight: the same round trips.
    const Variant naive_on_commit{"naive insert with COMMIT", nullptr, false, false, true, true};
    for (int n : int_list(f.str("naive-on-commit-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), naive_on_commit, on_commit,
              "put_and_commit/naive insert with COMMIT", 0.95);
    }
    // Diagnostic: the naive row with the put's key lock and wake-up step, against the naive row
    // (what those locks cost the server) and against put_and_commit (what the library adds on the
    // client).
    const Variant naive_locked{
        .name = "naive insert with locks and COMMIT", .naive = true, .on_commit = true, .locked = true};
    for (int n : int_list(f.str("naive-locked-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), naive_on_commit, naive_locked,
              "naive insert with/without the put's locks, with COMMIT", 0);
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), naive_locked, on_commit,
              "put_and_commit/naive insert with locks and COMMIT", 0);
    }
    // Diagnostic: the typed put against the put of a made message (a JSON value, checked).
    const Variant made_on_commit{
        .name = "put_and_commit of a made message", .box = &box, .on_commit = true, .made = true};
    for (int n : int_list(f.str("made-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), made_on_commit, on_commit,
              "typed put/made message, put_and_commit", 0);
    }
    // The same with each transaction in one flight (pipeline mode): the put adds no round trip.
    const Variant without_p{"without put, pipelined", nullptr, true}, with_p{"with put, pipelined", &box, true};
    for (int n : int_list(f.str("pipelined-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without_p, with_p, "with/without put, pipelined",
              n == 1 ? 0.90 : 0.97);
    }
  }
  const bool logical = exec(Conn(db.uri()), "SHOW wal_level") == "logical";
  const bool wal_wanted =
      !f.str("wal-clients").empty() || !f.str("wal-raw-clients").empty() || !f.str("made-clients").empty();
  if (wal_wanted && !logical) {
    std::printf("WAL mode: skipped (the server has wal_level=%s; bench/run_postgres.sh starts one with logical)\n\n",
                exec(Conn(db.uri()), "SHOW wal_level").c_str());
  }
  if (wal_wanted && logical) {
    // 1b. The same put into an outbox in WAL mode (issue 14, item 3): pg_logical_emit_message, no
    // table, no index, no key lock. Its slot (consumer "default") has no reader during the run.
    const outbox::postgres::Outbox wal("orders_wal", OrderEvents::registry(), {.mode = outbox::postgres::Mode::wal});
    {
      Conn c(db.uri());
      wal.init(c);
    }
    const Variant without{"without put", nullptr}, with{"with put, WAL mode", &wal};
    for (int n : int_list(f.str("wal-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, with, "with/without put, WAL mode",
              n == 1 ? 0.93 : 0.97);
    }
    const Variant on_commit{"with put_and_commit, WAL mode", &wal, false, false, false, true};
    for (int n : int_list(f.str("on-commit-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, on_commit,
              "with/without put, WAL mode, put_and_commit", n == 1 ? 0.93 : 0.97);
    }
    // What the library adds to a hand-written emit in the COMMIT's flight, and what that emit
    // itself costs the bare transaction: the WAL-mode put's floor.
    const Variant raw{"raw emit with COMMIT", nullptr, false, false, false, false, true};
    for (int n : int_list(f.str("wal-raw-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), raw, on_commit,
              "WAL mode, put_and_commit/raw emit with COMMIT", 0.95);
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without, raw,
              "with/without raw emit with COMMIT (the floor)", 0);
    }
    const Variant made_on_commit{
        .name = "put_and_commit of a made message, WAL mode", .box = &wal, .on_commit = true, .made = true};
    for (int n : int_list(f.str("made-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), made_on_commit, on_commit,
              "typed put/made message, WAL mode, put_and_commit", 0);
    }
    // The same in one network flight (Outbox::prepare_put in pipeline mode): the put's round trip,
    // most of what it adds where a round trip costs as much as the commit's flush, goes away.
    const Variant without_p{"without put, pipelined", nullptr, true},
        with_p{"with put, WAL mode, pipelined", &wal, true};
    for (int n : int_list(f.str("wal-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), without_p, with_p,
              "with/without put, WAL mode, pipelined", n == 1 ? 0.93 : 0.97);
    }
    // The slot would keep its WAL for ever, and a database with a logical slot cannot be dropped.
    Conn c(db.uri());
    exec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()");
  }
  if (!f.str("wake-clients").empty()) {
    // 2. The wake-up mechanism's cost: each outbox has a relay tailing it; puts into one wake its
    // relay, puts into the other do nothing for wake-ups and its relay polls.
    const outbox::postgres::Outbox woken("orders_woken", OrderEvents::registry(), {.wake_relay = true});
    const outbox::postgres::Outbox polled("orders_polled", OrderEvents::registry(), {.wake_relay = false});
    {
      Conn c(db.uri());
      woken.init(c);
      polled.init(c);
    }
    BackgroundRelay woken_relay(db.uri(), "orders_woken", true), polled_relay(db.uri(), "orders_polled", false);
    const Variant a{"put, wake_relay=false, relay polling", &polled}, b{"put, wake_relay=true, relay woken", &woken};
    for (int n : int_list(f.str("wake-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), a, b, "wake-ups on/off", 0.95);
    }
    std::printf("  (background relays acknowledged %lld (woken) and %lld (polling) messages)\n\n",
                static_cast<long long>(woken_relay.acknowledged()),
                static_cast<long long>(polled_relay.acknowledged()));
  }
  if (!f.str("index-clients").empty()) {
    // 3. The created_us index: two outboxes as init() creates them, then one loses that index.
    const outbox::postgres::Outbox indexed("orders_indexed", OrderEvents::registry());
    const outbox::postgres::Outbox unindexed("orders_unindexed", OrderEvents::registry());
    {
      Conn c(db.uri());
      indexed.init(c);
      unindexed.init(c);
      exec(c,
           "DROP INDEX outbox_orders_unindexed_created");  // the name init() gives it (src/store/postgres/tables.cpp)
    }
    if (const auto rows = f.integer("index-rows"); rows > 0) {
      std::printf("filling both outboxes with %lld messages each ...\n", static_cast<long long>(rows));
      std::fflush(stdout);
      const std::int64_t t0 = bench::mono_ns();
      prefill(db.uri(), indexed, rows);
      prefill(db.uri(), unindexed, rows);
      Conn c(db.uri());
      exec(c, "VACUUM ANALYZE outbox_orders_indexed");
      exec(c, "VACUUM ANALYZE outbox_orders_unindexed");
      std::printf("  filled in %.1f s\n\n", bench::seconds_since(t0));
    }
    const Variant a{"put, with the created_us index", &indexed}, b{"put, without the created_us index", &unindexed};
    for (int n : int_list(f.str("index-clients"))) {
      measure(db.uri(), n, rounds, round_seconds, f.flag("verbose"), a, b, "without/with created_us index", 0);
    }
    print_wal_per_txn(db.uri(), a, b, 2000);
    time_created_us_readers(db.uri(), {"orders_indexed", "orders_unindexed"},
                            static_cast<int>(f.integer("reader-reps")));
  }
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

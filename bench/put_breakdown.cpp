// Where one SQLite put's time goes (issue 14, item 1): each part of a typed put timed alone, the
// whole put, and a "naive outbox" in the same run: the same row inserted by hand into a table of
// the same layout with a prepared INSERT (no validation, no UUID, data serialized beforehand).
// All inserts run inside one open transaction per round, so no commit or fsync is timed: this is
// the library's own cost per put, which outbox_bench_write's whole-transaction ratios include.
// Parts alternate round by round (A B C ..., then reversed) and the figures are medians of rounds.
// Prints figures; never fails on time.
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "order_events.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#include "outbox/uuid.hpp"

namespace {

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

OrderCreated order(std::int64_t nr) {
  return OrderCreated{nr, "customer-" + std::to_string(nr % 1000), 1999 + nr % 100, "EUR", {"sku-1", "sku-22"}};
}

struct Part {
  std::string name;
  bool in_transaction;                          // runs between BEGIN and COMMIT (the inserts)
  std::function<void(std::int64_t)> operation;  // one operation, given a running number
  std::vector<double> ns_per_op{};              // one figure per round
};

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f(argc, argv, {{"dir", "/tmp"}, {"rounds", "21"}, {"ops", "20000"}},
                 "outbox_bench_put_breakdown: the parts of one SQLite put, and a naive insert of the same row, "
                 "in ns per operation (inside an open transaction: no commit is timed)");
  std::printf("outbox_bench_put_breakdown%s\n", f.command_line().c_str());
  const auto dir = bench::make_run_dir(f.str("dir"), "put-breakdown");
  bench::print_machine(dir);
  const int rounds = static_cast<int>(f.integer("rounds"));
  const std::int64_t ops = f.integer("ops");

  sqlite3* db = nullptr;
  check(db, sqlite3_open((dir / "service.db").c_str(), &db), "open");
  outbox::sqlite::Outbox box("orders", OrderEvents::registry());
  box.init(db);
  // The naive outbox: the store's own table layout (src/store/sqlite/tables.cpp), written by hand.
  check(db,
        sqlite3_exec(db,
                     "CREATE TABLE naive (position INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT "
                     "NULL, key TEXT, data TEXT NOT NULL, headers TEXT, created_us INTEGER NOT NULL)",
                     nullptr, nullptr, nullptr),
        "create naive");
  sqlite3_stmt* naive = nullptr;
  check(db,
        sqlite3_prepare_v3(db,
                           "INSERT INTO naive (id, type, key, data, headers, created_us) VALUES (?1, ?2, ?3, ?4, "
                           "NULL, ?5)",
                           -1, SQLITE_PREPARE_PERSISTENT, &naive, nullptr),
        "prepare naive");
  auto writer = box.writer(db);
  const outbox::SchemaRegistry registry = OrderEvents::registry();
  const outbox::Message typed_message = OrderEvents::make(order(1), "order-1");
  const std::string serialized = typed_message.data.dump();
  const std::string an_id = outbox::uuid_v7();

  std::vector<Part> parts;
  parts.push_back({"typed encode (OrderEvents::make)", false, [&](std::int64_t i) {
                     auto m = OrderEvents::make(order(i), "order-" + std::to_string(i % 1000));
                     if (m.type.empty()) std::abort();
                   }});
  // What a typed put does instead of the two parts after it (outbox/typed.hpp): the struct written
  // straight to text, no JSON value.
  parts.push_back({"typed text (detail::write_value)", false, [&](std::int64_t i) {
                     outbox::detail::TypedText text;
                     outbox::detail::write_value(order(i), text, 1);
                     if (text.out.size() == 0) std::abort();
                   }});
  parts.push_back({"validate + serialize data", false, [&](std::int64_t) {
                     auto m = typed_message;
                     m.outbox = "orders";
                     if (registry.validate_and_serialize(m).empty()) std::abort();
                   }});
  parts.push_back({"serialize data alone (json dump)", false, [&](std::int64_t) {
                     if (typed_message.data.dump().empty()) std::abort();
                   }});
  parts.push_back({"copy the Message (what validation's copy costs)", false, [&](std::int64_t) {
                     auto m = typed_message;
                     if (m.type.empty()) std::abort();
                   }});
  parts.push_back({"UUIDv7", false, [&](std::int64_t) {
                     if (outbox::uuid_v7().size() != 36) std::abort();
                   }});
  parts.push_back({"naive INSERT of the serialized row", true, [&](std::int64_t i) {
                     sqlite3_bind_text(naive, 1, an_id.data(), static_cast<int>(an_id.size()), SQLITE_STATIC);
                     sqlite3_bind_text(naive, 2, "order_created", -1, SQLITE_STATIC);
                     const std::string key = "order-" + std::to_string(i % 1000);
                     sqlite3_bind_text(naive, 3, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
                     sqlite3_bind_text(naive, 4, serialized.data(), static_cast<int>(serialized.size()), SQLITE_STATIC);
                     sqlite3_bind_int64(naive, 5, i);
                     check(db, sqlite3_step(naive), "naive insert");
                     sqlite3_reset(naive);
                   }});
  parts.push_back({"Writer::put of a built Message", true, [&](std::int64_t) { writer.put(typed_message); }});
  parts.push_back({"typed put (OrderEvents::put)", true,
                   [&](std::int64_t i) { OrderEvents::put(writer, order(i), "order-" + std::to_string(i % 1000)); }});

  std::int64_t counter = 0;
  auto run_round = [&](Part& p) {
    if (p.in_transaction) check(db, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "begin");
    const auto start = bench::mono_ns();
    for (std::int64_t i = 0; i < ops; ++i) p.operation(++counter);
    const auto elapsed = bench::mono_ns() - start;
    if (p.in_transaction) {
      check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
      // Keep the tables small and alike from round to round.
      check(db, sqlite3_exec(db, "DELETE FROM naive; DELETE FROM outbox_orders", nullptr, nullptr, nullptr), "clear");
    }
    p.ns_per_op.push_back(static_cast<double>(elapsed) / static_cast<double>(ops));
  };
  for (auto& p : parts) run_round(p);  // warm-up, not counted
  for (auto& p : parts) p.ns_per_op.clear();
  bench::alternate_rounds(parts, rounds, run_round, [](int) {});
  std::printf("%lld operations per round, %d rounds alternating; median ns per operation (min, max):\n",
              static_cast<long long>(ops), rounds);
  std::map<std::string, double> median;
  for (auto& p : parts) {
    median[p.name] = bench::median(p.ns_per_op);
    std::printf("  %-50s %9.0f ns  (%.0f, %.0f)\n", p.name.c_str(), median[p.name],
                *std::min_element(p.ns_per_op.begin(), p.ns_per_op.end()),
                *std::max_element(p.ns_per_op.begin(), p.ns_per_op.end()));
  }
  const double naive_ns = median["naive INSERT of the serialized row"];
  const double put_ns = median["typed put (OrderEvents::put)"];
  std::printf(
      "  the typed put's time beyond the naive insert: %.0f ns; of it typed text %.0f (what it replaced: "
      "encode %.0f, then serializing that value, about %.0f), UUIDv7 %.0f\n",
      put_ns - naive_ns, median["typed text (detail::write_value)"], median["typed encode (OrderEvents::make)"],
      median["serialize data alone (json dump)"], median["UUIDv7"]);
  std::printf("  RATIO naive insert / typed put (inside a transaction, no commit): %.3f   target >= 0.95: %s\n",
              naive_ns / put_ns, naive_ns / put_ns >= 0.95 ? "met" : "MISSED");
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  sqlite3_finalize(naive);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
  return 0;
}

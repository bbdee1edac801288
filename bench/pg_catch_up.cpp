// A PostgreSQL relay that starts (or catches up) on a table that already holds many delivered rows
// (issue 14, item 5), against the same relay on a table holding none, in the same run.
//
//   outbox_bench_pg_catch_up [--history 1000000] [--messages 50000] [--reps 3] [--server URI]
//
// Two fresh databases on --server (default $OUTBOX_PG_URI): "history" holds --history rows that
// consumer "c" has passed; "empty" holds none (its passed rows are deleted after each round).
// Each round writes --messages new rows into both, then times a relay of consumer "c" from its
// checkpoint to null: on each, alternating which goes first; the figure is the ratio of the
// medians. (bench/run_postgres.sh starts a throwaway cluster and runs this.) Never fails on time.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/postgres.hpp"
#include "pg_util.hpp"

namespace {

constexpr const char* kOutbox = "bench";

outbox::Message message(std::int64_t i) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(i % 1000);
  m.data = {{"ordernr", i}, {"note", std::string(150, 'x')}};
  return m;
}

// Puts n messages, 10,000 per transaction, then VACUUM ANALYZE as autovacuum soon would.
void write(const std::string& uri, std::int64_t from, std::int64_t n) {
  bench::pg::Conn c(uri);
  outbox::postgres::Outbox box(kOutbox, outbox::SchemaRegistry::from_json({{"order_created", {{"type", "object"}}}}));
  box.init(c);
  for (std::int64_t i = from; i < from + n;) {
    bench::pg::exec(c, "BEGIN");
    for (int k = 0; k < 10000 && i < from + n; ++k, ++i) box.put(c, message(i));
    bench::pg::exec(c, "COMMIT");
  }
  bench::pg::exec(c, std::string("VACUUM ANALYZE outbox_") + kOutbox);
}

// Relays consumer "c" from its checkpoint to null: until idle; returns msg/s.
double relay(const std::string& uri, std::int64_t expected) {
  auto store = outbox::open_store(uri);
  auto sink = outbox::open_sink("null:");
  outbox::RelayOptions o;
  o.outbox = kOutbox;
  o.consumer = "c";
  o.stop_when_idle = true;
  o.idle_wait = std::chrono::milliseconds(1);
  outbox::Relay r(*store, *sink, o);
  const auto start = bench::mono_ns();
  r.run();
  const double secs = bench::seconds_since(start);
  if (r.stats().acknowledged != expected) {
    std::printf("  relay acknowledged %lld of %lld\n", static_cast<long long>(r.stats().acknowledged),
                static_cast<long long>(expected));
  }
  return static_cast<double>(r.stats().acknowledged) / secs;
}

}  // namespace

int main(int argc, char** argv) try {
  bench::Flags f(argc, argv, {{"history", "1000000"}, {"messages", "50000"}, {"reps", "3"}, {"server", ""}},
                 "outbox_bench_pg_catch_up: PostgreSQL relay start on a table of delivered rows vs an empty one");
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_pg_catch_up%s\n", outbox::redact_uri(f.command_line()).c_str());
  const std::string server = f.str("server").empty() ? bench::pg::server_from_env() : f.str("server");
  bench::pg::Database history(server, "bench_history"), empty(server, "bench_empty");
  std::printf("server: %s\n", history.settings().c_str());
  const auto h = f.integer("history"), n = f.integer("messages");
  const int reps = static_cast<int>(f.integer("reps"));

  std::printf("writing %lld rows of history and relaying them once ...\n", static_cast<long long>(h));
  std::fflush(stdout);
  write(history.uri(), 1, h);
  relay(history.uri(), h);
  write(empty.uri(), 1, 0);

  std::vector<double> with_history, without;
  std::int64_t next = h + 1;
  for (int r = 0; r < reps; ++r) {
    write(history.uri(), next, n);
    write(empty.uri(), next, n);
    next += n;
    for (int k = 0; k < 2; ++k) {
      if ((r + k) % 2 == 0) {
        with_history.push_back(relay(history.uri(), n));
      } else {
        without.push_back(relay(empty.uri(), n));
        bench::pg::Conn c(empty.uri());  // delivered: keep this table empty for the next round
        bench::pg::exec(c, std::string("DELETE FROM outbox_") + kOutbox);
        bench::pg::exec(c, std::string("VACUUM ANALYZE outbox_") + kOutbox);
      }
    }
    std::printf("  round %d of %d: %lld delivered rows before: %.0f msg/s; none: %.0f msg/s\n", r + 1, reps,
                static_cast<long long>(next - 1 - n), with_history.back(), without.back());
    std::fflush(stdout);
  }
  std::printf("relay of %lld new messages to null:, consumer resuming from its checkpoint\n",
              static_cast<long long>(n));
  std::printf("  %-34s%10.0f msg/s (median of %d)\n", "table with the delivered history:", bench::median(with_history),
              reps);
  std::printf("  %-34s%10.0f msg/s (median of %d)\n", "table holding no delivered rows:", bench::median(without), reps);
  std::printf("  %-34s%10.2f (target >= 0.9)\n", "ratio:", bench::median(with_history) / bench::median(without));
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "outbox_bench_pg_catch_up: %s\n", e.what());
  return 1;
}

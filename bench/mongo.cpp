// MongoDB benchmarks against the server at --uri (bench/run_mongo.sh starts FerretDB for them):
//   M1. put overhead: N Outbox::put (poll mode, capped mode) against N plain insert_one of the same
//       document into an ordinary collection, alternating rounds; reported as rates and ratios;
//   M2. relay throughput to the null sink (poll mode, capped mode) against reading the same
//       documents with a plain find cursor in the same run.
// Figures only; nothing passes or fails on time.
#include <mongoc/mongoc.h>

#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "bench_util.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/outbox.hpp"

namespace {

namespace mdb = outbox::mongodb;

outbox::Message message(std::int64_t i) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(i % 1000);
  m.data = {{"ordernr", i},
            {"customer", "customer-" + std::to_string(i % 997)},
            {"amount_cents", 4200 + i % 100},
            {"currency", "EUR"},
            {"note", std::string(100, 'x')}};
  return m;
}

outbox::SchemaRegistry registry() {
  return outbox::SchemaRegistry::from_json({{"order_created", {{"type", "object"}}}});
}

// The same fields as the outbox document (data as a sub-document), without position or outbox.
bson_t* plain_document(std::int64_t i) {
  const auto m = message(i);
  const std::string id = "plain-" + std::to_string(i) + "-" + std::to_string(bench::mono_ns());
  return BCON_NEW("_id", BCON_UTF8(id.c_str()), "type", BCON_UTF8(m.type.c_str()), "key", BCON_UTF8(m.key->c_str()),
                  "data", "{", "ordernr", BCON_INT64(i), "customer",
                  BCON_UTF8(m.data["customer"].get<std::string>().c_str()), "amount_cents",
                  BCON_INT64(m.data["amount_cents"].get<std::int64_t>()), "currency", BCON_UTF8("EUR"), "note",
                  BCON_UTF8(m.data["note"].get<std::string>().c_str()), "}", "headers", "{", "}", "created",
                  BCON_DATE_TIME(0), "created_us", BCON_INT64(0));
}

double plain_inserts(mongoc_client_t* c, const std::string& db, std::int64_t n, std::int64_t from) {
  mongoc_collection_t* col = mongoc_client_get_collection(c, db.c_str(), "plain");
  const auto start = bench::mono_ns();
  for (std::int64_t i = from; i < from + n; ++i) {
    bson_t* doc = plain_document(i);
    bson_error_t error;
    if (!mongoc_collection_insert_one(col, doc, nullptr, nullptr, &error)) {
      std::fprintf(stderr, "insert: %s\n", error.message);
      std::exit(1);
    }
    bson_destroy(doc);
  }
  const double s = bench::seconds_since(start);
  mongoc_collection_destroy(col);
  return static_cast<double>(n) / s;
}

double puts(const mdb::Outbox& box, mongoc_client_t* c, std::int64_t n, std::int64_t from) {
  const auto start = bench::mono_ns();
  for (std::int64_t i = from; i < from + n; ++i) box.put(c, message(i));
  return static_cast<double>(n) / bench::seconds_since(start);
}

// Reads every document of db.collection with a plain cursor; returns documents per second.
double plain_read(mongoc_client_t* c, const std::string& db, const std::string& collection, std::int64_t expect) {
  mongoc_collection_t* col = mongoc_client_get_collection(c, db.c_str(), collection.c_str());
  bson_t filter = BSON_INITIALIZER;
  bson_t* opts = BCON_NEW("batchSize", BCON_INT64(1000));
  const auto start = bench::mono_ns();
  mongoc_cursor_t* cur = mongoc_collection_find_with_opts(col, &filter, opts, nullptr);
  const bson_t* doc = nullptr;
  std::int64_t n = 0;
  while (mongoc_cursor_next(cur, &doc)) ++n;
  const double s = bench::seconds_since(start);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  mongoc_collection_destroy(col);
  if (n != expect) std::fprintf(stderr, "plain read: %lld documents, expected %lld\n", (long long)n, (long long)expect);
  return static_cast<double>(n) / s;
}

double relay_null(const std::string& store_uri, const std::string& outbox, std::int64_t expect) {
  auto store = outbox::open_store(store_uri);
  auto sink = outbox::open_sink("null:");
  outbox::RelayOptions o;
  o.outbox = outbox;
  o.stop_when_idle = true;
  o.batch_size = 1000;
  outbox::Relay relay(*store, *sink, o);
  const auto start = bench::mono_ns();
  relay.run();
  const double s = bench::seconds_since(start);
  if (relay.stats().acknowledged != expect) {
    std::fprintf(stderr, "relay: %lld acknowledged, expected %lld\n", (long long)relay.stats().acknowledged,
                 (long long)expect);
  }
  return static_cast<double>(expect) / s;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv, {{"uri", ""}, {"n", "3000"}, {"rounds", "3"}},
                     "outbox_bench_mongo --uri mongodb://HOST:PORT/ [--n 3000] [--rounds 3]");
  spdlog::set_level(spdlog::level::warn);
  std::string base = flags.str("uri");
  if (base.empty()) {
    std::fprintf(stderr, "--uri is required (bench/run_mongo.sh starts FerretDB and passes it)\n");
    return 2;
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::int64_t n = flags.integer("n"), rounds = flags.integer("rounds");
  const std::string db = "outbox_bench_" + std::to_string(getpid());
  mongoc_init();
  mongoc_client_t* c = mongoc_client_new((base + "/" + db).c_str());
  mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
  {
    auto store = outbox::open_store(base + "/" + db + "?outboxMode=poll");
    store->init("poll_box");
    auto capped = outbox::open_store(base + "/" + db + "?outboxMode=capped&outboxCappedSize=1000000000");
    capped->init("capped_box");
  }
  mdb::Outbox poll_box(db, "poll_box", registry()), capped_box(db, "capped_box", registry());

  std::printf("M1. put overhead: %lld messages per round, %lld rounds (~%zu-byte data), one client, sequential\n",
              (long long)n, (long long)rounds, message(1).data.dump().size());
  std::vector<double> plain, poll, capped;
  for (std::int64_t r = 0; r < rounds; ++r) {
    plain.push_back(plain_inserts(c, db, n, r * n));
    poll.push_back(puts(poll_box, c, n, r * n));
    capped.push_back(puts(capped_box, c, n, r * n));
    std::printf("  round %lld: plain insert %.0f/s, put poll %.0f/s, put capped %.0f/s\n", (long long)r + 1,
                plain.back(), poll.back(), capped.back());
  }
  const double p = bench::median(plain), pp = bench::median(poll), pc = bench::median(capped);
  std::printf("  median: plain %.0f/s; poll put %.0f/s (ratio %.3f); capped put %.0f/s (ratio %.3f)\n", p, pp, pp / p,
              pc, pc / p);

  const std::int64_t total = n * rounds;
  std::printf("M2. relay -> null: %lld messages each\n", (long long)total);
  const double read_poll = plain_read(c, db, "outbox_poll_box", total);
  const double relay_poll = relay_null(base + "/" + db, "poll_box", total);
  const double read_capped = plain_read(c, db, "outbox_capped_box", total);
  const double relay_capped = relay_null(base + "/" + db, "capped_box", total);
  std::printf("  poll:   relay %.0f msg/s; plain find cursor %.0f docs/s; ratio %.3f\n", relay_poll, read_poll,
              relay_poll / read_poll);
  std::printf("  capped: relay %.0f msg/s; plain find cursor %.0f docs/s; ratio %.3f\n", relay_capped, read_capped,
              relay_capped / read_capped);
  mongoc_client_destroy(c);
  return 0;
}

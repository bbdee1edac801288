// Relay -> Kafka against raw librdkafka, in one run, and commit -> broker-acknowledged latency.
//
//   outbox_bench_kafka --brokers 127.0.0.1:9092 [--messages 200000] [--linger-ms 5] [--reps 3]
//   outbox_bench_kafka --brokers ... --mode latency [--rate 1000] [--seconds 15] [--linger-ms 0]
//
// The source outbox is a SQLite file in a fresh folder under --dir, or with --postgres a fresh
// database on --server (default $OUTBOX_PG_URI), dropped afterwards. (bench/run_kafka.sh starts a
// throwaway broker and a throwaway PostgreSQL cluster and runs both modes from both sources.)
// Prints figures; never fails on time.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#include "timing_sink.hpp"
#ifdef OUTBOX_WITH_POSTGRES
#include "outbox/postgres.hpp"
#include "pg_util.hpp"
#endif

namespace {

const char* kUsage = "outbox_bench_kafka: relay -> Kafka throughput vs raw librdkafka, and commit -> ack latency";

std::string payload_text(std::size_t bytes) {
  // {"ordernr":N,"pad":"xxx..."} padded to about `bytes`.
  return std::string(bytes > 40 ? bytes - 40 : 1, 'x');
}

outbox::SchemaRegistry registry() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(R"({"order_created": {"type": "object"}})"));
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
}

// Raw librdkafka with the sink's producer settings: the ceiling for the relay.
double raw_librdkafka(const std::string& brokers, const std::string& topic, std::int64_t n, std::size_t bytes,
                      const std::string& linger) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", brokers},
                                                               {"enable.idempotence", "true"},
                                                               {"acks", "all"},
                                                               {"max.in.flight.requests.per.connection", "5"},
                                                               {"enable.gapless.guarantee", "true"},
                                                               {"linger.ms", linger}}) {
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  }
  static std::atomic<std::int64_t> acked;
  acked = 0;
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    if (!m->err) ++acked;
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  const std::string pad = payload_text(bytes);
  const auto start = bench::mono_ns();
  for (std::int64_t i = 1; i <= n; ++i) {
    // The same work per message as the sink: serialize data, build the same headers.
    const std::string value = nlohmann::json{{"ordernr", i}, {"pad", pad}}.dump();
    const std::string key = "order-" + std::to_string(i % 64);
    rd_kafka_headers_t* h = rd_kafka_headers_new(5);
    const std::string pos = std::to_string(i);
    rd_kafka_header_add(h, "id", -1, "01930000-0000-7000-8000-000000000000", 36);
    rd_kafka_header_add(h, "type", -1, "order_created", -1);
    rd_kafka_header_add(h, "outbox", -1, "bench", -1);
    rd_kafka_header_add(h, "created", -1, "2026-11-29T00:00:00.000000Z", -1);
    rd_kafka_header_add(h, "position", -1, pos.data(), pos.size());
    const void* kp = key.data();
    const std::size_t ks = key.size();
    void* vp = const_cast<char*>(value.data());
    const std::size_t vs = value.size();
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(kp, ks), RD_KAFKA_V_VALUE(vp, vs),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  const double secs = bench::seconds_since(start);
  rd_kafka_destroy(rk);
  if (acked != n)
    std::printf("  raw: only %lld of %lld acknowledged\n", static_cast<long long>(acked.load()),
                static_cast<long long>(n));
  return static_cast<double>(n) / secs;
}

outbox::Message order_message(std::int64_t ordernr, const std::string& pad) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(ordernr % 64);
  m.data = {{"ordernr", ordernr}, {"pad", pad}};
  return m;
}

// Writes into the "bench" outbox of the source store over a connection of its own (also in a
// forked child, so it must not share anything the parent opened). init() on open: idempotent.
class OutboxWriter {
 public:
  virtual ~OutboxWriter() = default;
  virtual void begin() = 0;
  virtual void put(outbox::Message m) = 0;
  virtual void commit() = 0;
  // After a bulk fill: what the database would soon do by itself.
  virtual void settle() {}
};

class SqliteOutboxWriter final : public OutboxWriter {
 public:
  explicit SqliteOutboxWriter(const std::string& path) : box_("bench", registry()) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error(path + ": " + sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 5000);
    box_.init(db_);
    writer_.emplace(box_.writer(db_));
  }
  ~SqliteOutboxWriter() override {
    writer_.reset();
    sqlite3_close(db_);
  }
  void begin() override { exec(db_, "BEGIN"); }
  void put(outbox::Message m) override { writer_->put(std::move(m)); }
  void commit() override { exec(db_, "COMMIT"); }

 private:
  sqlite3* db_ = nullptr;
  outbox::sqlite::Outbox box_;
  std::optional<outbox::sqlite::Writer> writer_;
};

#ifdef OUTBOX_WITH_POSTGRES
class PostgresOutboxWriter final : public OutboxWriter {
 public:
  explicit PostgresOutboxWriter(const std::string& uri) : conn_(uri), box_("bench", registry()) {
    bench::pg::exec(conn_, "SET synchronous_commit = on");
    box_.init(conn_);
  }
  void begin() override { bench::pg::exec(conn_, "BEGIN"); }
  void put(outbox::Message m) override { box_.put(conn_, std::move(m)); }
  void commit() override { bench::pg::exec(conn_, "COMMIT"); }
  void settle() override { bench::pg::exec(conn_, "VACUUM ANALYZE outbox_bench"); }  // as autovacuum would, soon

 private:
  bench::pg::Conn conn_;
  outbox::postgres::Outbox box_;
};
#endif

bool is_sqlite(const std::string& store_uri) { return store_uri.rfind("sqlite:", 0) == 0; }
const char* source_name(const std::string& store_uri) { return is_sqlite(store_uri) ? "SQLite" : "PostgreSQL"; }

std::unique_ptr<OutboxWriter> open_writer(const std::string& store_uri) {
  if (is_sqlite(store_uri)) return std::make_unique<SqliteOutboxWriter>(store_uri.substr(7));
#ifdef OUTBOX_WITH_POSTGRES
  return std::make_unique<PostgresOutboxWriter>(store_uri);
#else
  throw std::runtime_error("this build has no PostgreSQL store");
#endif
}

// Puts n messages in transactions of 10,000 (n = 0: only creates the outbox).
void fill(const std::string& store_uri, std::int64_t n, std::size_t bytes) {
  auto w = open_writer(store_uri);
  const std::string pad = payload_text(bytes);
  for (std::int64_t i = 1; i <= n;) {
    w->begin();
    for (int j = 0; j < 10000 && i <= n; ++j, ++i) w->put(order_message(i, pad));
    w->commit();
  }
  w->settle();
}

// A new consumer each time, so that every run relays the whole outbox from the start.
double relay_to_kafka(const std::string& store_uri, const std::string& consumer, const std::string& brokers,
                      const std::string& topic, const std::string& linger, std::int64_t expected) {
  auto store = outbox::open_store(store_uri);
  auto sink = outbox::open_sink("kafka://" + brokers + "/" + topic, {{"linger.ms", linger}});
  outbox::RelayOptions o;
  o.outbox = "bench";
  o.consumer = consumer;
  o.stop_when_idle = true;
  o.batch_size = 5000;
  outbox::Relay relay(*store, *sink, o);
  const auto start = bench::mono_ns();
  relay.run();
  const double secs = bench::seconds_since(start);
  if (relay.stats().acknowledged != expected) {
    std::printf("  relay: %lld of %lld acknowledged\n", static_cast<long long>(relay.stats().acknowledged),
                static_cast<long long>(expected));
  }
  return static_cast<double>(expected) / secs;
}

// The writer process: one message per transaction at a steady rate.
[[noreturn]] void write_steadily(const std::string& store_uri, double rate, double seconds, std::size_t bytes) {
  try {
    auto w = open_writer(store_uri);
    const std::string pad = payload_text(bytes);
    const auto start = bench::mono_ns();
    const auto total = static_cast<std::int64_t>(rate * seconds);
    for (std::int64_t i = 1; i <= total; ++i) {
      const auto due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
      while (bench::mono_ns() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
      w->begin();
      w->put(order_message(i, pad));
      w->commit();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer process: %s\n", e.what());
    _exit(1);
  }
  _exit(0);
}

}  // namespace

int run(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"brokers", ""},
                      {"mode", "throughput"},
                      {"messages", "200000"},
                      {"bytes", "200"},
                      {"linger-ms", "5"},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"dir", "/tmp"},
                      {"postgres", "false"},
                      {"server", ""},
                      {"reps", "3"}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_kafka%s\n", outbox::redact_uri(flags.command_line()).c_str());
  std::string brokers = flags.str("brokers");
  if (brokers.empty() && std::getenv("KAFKA_BOOTSTRAP")) brokers = std::getenv("KAFKA_BOOTSTRAP");
  if (brokers.empty()) {
    std::fprintf(stderr, "give --brokers HOST:PORT (or run bench/run_kafka.sh, which starts a broker)\n");
    return 2;
  }
  if (flags.str("mode") != "throughput" && flags.str("mode") != "latency") {
    throw std::runtime_error("--mode must be throughput or latency, not '" + flags.str("mode") + "'");
  }
  const bool throughput = flags.str("mode") == "throughput";
  if (throughput && flags.integer("reps") < 1) throw std::runtime_error("--reps must be at least 1");
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-kafka");
  struct RemoveDir {  // also when a step throws
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const std::string tag = std::to_string(getpid());

  std::string store_uri = "sqlite:" + (dir / (throughput ? "relay.db" : "latency.db")).string();
#ifdef OUTBOX_WITH_POSTGRES
  std::unique_ptr<bench::pg::Database> pg;  // dropped at the end
  if (flags.flag("postgres")) {
    pg = std::make_unique<bench::pg::Database>(
        flags.str("server").empty() ? bench::pg::server_from_env() : flags.str("server"), "bench_kafka");
    std::printf("server: %s\n", pg->settings().c_str());
    store_uri = pg->uri();
  }
#else
  if (flags.flag("postgres")) {
    std::fprintf(stderr, "--postgres: this build has no PostgreSQL store; build with -DOUTBOX_WITH_POSTGRES=ON\n");
    return 2;
  }
#endif
  const char* source = source_name(store_uri);

  if (throughput) {
    const auto n = flags.integer("messages");
    std::printf("filling the %s outbox with %lld messages ...\n", source, static_cast<long long>(n));
    std::fflush(stdout);
    const auto fill_start = bench::mono_ns();
    fill(store_uri, n, bytes);
    std::printf("  filled in %.1f s\n", bench::seconds_since(fill_start));
    std::printf("relay -> Kafka throughput, %lld messages of ~%zu-byte data, linger.ms=%s, broker on this machine\n",
                static_cast<long long>(n), bytes, flags.str("linger-ms").c_str());
    std::fflush(stdout);
    // Raw and relay alternate (raw relay, relay raw, ...), each run to new topics, so that the
    // broker's warm-up and other load fall on both; the figures are the medians.
    const int reps = static_cast<int>(flags.integer("reps"));
    std::vector<double> raw, relay;
    for (int r = 0; r < reps; ++r) {
      for (int k = 0; k < 2; ++k) {
        const std::string run = tag + "_" + std::to_string(r);
        if ((k == 0) == (r % 2 == 0)) {
          raw.push_back(raw_librdkafka(brokers, "bench_raw_" + run, n, bytes, flags.str("linger-ms")));
        } else {
          relay.push_back(
              relay_to_kafka(store_uri, "bench_" + run, brokers, "bench_relay_" + run, flags.str("linger-ms"), n));
        }
      }
      std::printf("  run %d of %d: raw %.0f msg/s, relay %.0f msg/s, ratio %.2f\n", r + 1, reps, raw.back(),
                  relay.back(), relay.back() / raw.back());
      std::fflush(stdout);
    }
    std::printf("  %-28s%10.0f msg/s (median of %d)\n", "raw librdkafka from memory:", bench::median(raw), reps);
    std::printf("  %-28s%10.0f msg/s (median of %d)\n", ("relay " + std::string(source) + " -> Kafka:").c_str(),
                bench::median(relay), reps);
    std::printf("  %-28s%10.2f\n", "ratio relay / raw:", bench::median(relay) / bench::median(raw));
  } else {
    fill(store_uri, 0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    auto store = outbox::open_store(store_uri);
    auto timing = std::make_unique<bench::TimingSink>(
        outbox::open_sink("kafka://" + brokers + "/bench_latency_" + tag, {{"linger.ms", flags.str("linger-ms")}}));
    bench::TimingSink* sink = timing.get();
    outbox::RelayOptions o;
    o.outbox = "bench";
    o.consumer = "latency";
    outbox::Relay relay(*store, *sink, o);
    std::thread runner([&] { relay.run(); });
    // Warm up: the first message creates the topic and gets the producer id; wait for its ack
    // so that topic creation is not measured as latency.
    {
      auto w = open_writer(store_uri);
      w->begin();
      outbox::Message m;
      m.type = "order_created";
      m.data = {{"warmup", true}};
      w->put(m);
      w->commit();
      for (int i = 0; i < 300 && sink->latencies().empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      sink->reset();
    }
    std::printf("writing %.0f msg/s for %.0f s into the %s outbox ...\n", rate, seconds, source);
    std::fflush(stdout);
    const pid_t writer = fork();
    if (writer == 0) write_steadily(store_uri, rate, seconds, bytes);
    int writer_status = 0;
    waitpid(writer, &writer_status, 0);
    if (!WIFEXITED(writer_status) || WEXITSTATUS(writer_status) != 0) {
      std::fprintf(stderr, "the writer process failed (see its message above); the figures below are incomplete\n");
    }
    const auto expected = static_cast<std::size_t>(rate * seconds);
    for (int i = 0; i < 100 && sink->latencies().size() < expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    relay.stop();
    runner.join();
    const auto l = sink->latencies();
    std::printf(
        "commit -> Kafka-acknowledged latency, %s source, at %.0f msg/s for %.0f s (writer in another process),"
        " linger.ms=%s\n",
        source, rate, seconds, flags.str("linger-ms").c_str());
    std::printf("  samples %zu of %zu; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", l.size(), expected,
                bench::percentile(l, 50), bench::percentile(l, 90), bench::percentile(l, 99),
                l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
  }
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench_kafka: %s\n", e.what());
    return 1;
  }
}

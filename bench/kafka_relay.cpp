// Relay -> Kafka against raw librdkafka, in one run, and commit -> broker-acknowledged latency.
//
//   outbox_bench_kafka --brokers 127.0.0.1:9092 [--messages 200000] [--linger-ms 5]
//   outbox_bench_kafka --brokers ... --mode latency [--rate 1000] [--seconds 15] [--linger-ms 0]
//
// (bench/run_kafka.sh starts a throwaway broker and runs both.) Prints figures; never fails on time.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

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
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  const double secs = bench::seconds_since(start);
  rd_kafka_destroy(rk);
  if (acked != n) std::printf("  raw: only %lld of %lld acknowledged\n", static_cast<long long>(acked.load()), static_cast<long long>(n));
  return static_cast<double>(n) / secs;
}

void fill(const std::string& path, std::int64_t n, std::size_t bytes) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  outbox::sqlite::Outbox box("bench", registry());
  box.init(db);
  auto w = box.writer(db);
  const std::string pad = payload_text(bytes);
  for (std::int64_t i = 1; i <= n;) {
    exec(db, "BEGIN");
    for (int j = 0; j < 10000 && i <= n; ++j, ++i) {
      outbox::Message m;
      m.type = "order_created";
      m.key = "order-" + std::to_string(i % 64);
      m.data = {{"ordernr", i}, {"pad", pad}};
      w.put(m);
    }
    exec(db, "COMMIT");
  }
  sqlite3_close(db);
}

double relay_to_kafka(const std::string& db, const std::string& brokers, const std::string& topic,
                      const std::string& linger, std::int64_t expected) {
  auto store = outbox::open_store("sqlite:" + db);
  auto sink = outbox::open_sink("kafka://" + brokers + "/" + topic, {{"linger.ms", linger}});
  outbox::RelayOptions o;
  o.outbox = "bench";
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

// Forwards to the Kafka sink and times each acknowledgement against the message's `created`
// (set by put, just before the writer's COMMIT).
class TimingSink final : public outbox::Sink {
 public:
  explicit TimingSink(std::unique_ptr<outbox::Sink> inner) : inner_(std::move(inner)) {
    pump_ = std::thread([this] {
      while (!stop_) {
        for (const auto& d : inner_->poll(std::chrono::milliseconds(5))) {
          const auto now = outbox::now();
          {
            std::lock_guard lock(mutex_);
            auto it = created_.find(d.position);
            if (it != created_.end() && d.outcome == outbox::Outcome::ok) {
              latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
              created_.erase(it);
            }
          }
          report(d.position, d.outcome, d.error);
        }
      }
    });
  }
  ~TimingSink() override {
    stop_ = true;
    pump_.join();
  }
  std::string describe() const override { return "timed " + inner_->describe(); }
  std::vector<double> latencies() {
    std::lock_guard lock(mutex_);
    return latencies_ms_;
  }
  void reset() {
    std::lock_guard lock(mutex_);
    latencies_ms_.clear();
  }

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    {
      std::lock_guard lock(mutex_);
      for (const auto& m : batch) created_[m.position] = m.created;
    }
    inner_->publish(batch);
  }
  void do_flush(std::chrono::milliseconds t) override { inner_->flush(t); }

 private:
  std::unique_ptr<outbox::Sink> inner_;
  std::mutex mutex_;
  std::unordered_map<std::int64_t, outbox::Timestamp> created_;
  std::vector<double> latencies_ms_;
  std::atomic<bool> stop_{false};
  std::thread pump_;
};

// The writer process: one message per transaction at a steady rate.
[[noreturn]] void write_steadily(const std::string& path, double rate, double seconds, std::size_t bytes) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_busy_timeout(db, 5000);
  outbox::sqlite::Outbox box("bench", registry());
  auto w = box.writer(db);
  const std::string pad = payload_text(bytes);
  const auto start = bench::mono_ns();
  const auto total = static_cast<std::int64_t>(rate * seconds);
  for (std::int64_t i = 1; i <= total; ++i) {
    const auto due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
    while (bench::mono_ns() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
    exec(db, "BEGIN");
    outbox::Message m;
    m.type = "order_created";
    m.key = "order-" + std::to_string(i % 64);
    m.data = {{"ordernr", i}, {"pad", pad}};
    w.put(m);
    exec(db, "COMMIT");
  }
  sqlite3_close(db);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"brokers", ""}, {"mode", "throughput"}, {"messages", "200000"}, {"bytes", "200"},
                      {"linger-ms", "5"}, {"rate", "1000"}, {"seconds", "15"}, {"dir", "/tmp"}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::string brokers = flags.str("brokers");
  if (brokers.empty() && std::getenv("KAFKA_BOOTSTRAP")) brokers = std::getenv("KAFKA_BOOTSTRAP");
  if (brokers.empty()) {
    std::fprintf(stderr, "give --brokers HOST:PORT (or run bench/run_kafka.sh, which starts a broker)\n");
    return 2;
  }
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-kafka");
  bench::print_machine(dir);
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const std::string tag = std::to_string(getpid());

  if (flags.str("mode") == "throughput") {
    const auto n = flags.integer("messages");
    const std::string db = (dir / "relay.db").string();
    fill(db, n, bytes);
    std::printf("relay -> Kafka throughput, %lld messages of ~%zu-byte data, linger.ms=%s, broker on this machine\n",
                static_cast<long long>(n), bytes, flags.str("linger-ms").c_str());
    const double raw = raw_librdkafka(brokers, "bench_raw_" + tag, n, bytes, flags.str("linger-ms"));
    std::printf("  raw librdkafka from memory: %10.0f msg/s\n", raw);
    const double relay = relay_to_kafka(db, brokers, "bench_relay_" + tag, flags.str("linger-ms"), n);
    std::printf("  relay SQLite -> Kafka:      %10.0f msg/s\n", relay);
    std::printf("  ratio relay / raw:          %10.2f\n", relay / raw);
  } else {
    const std::string db = (dir / "latency.db").string();
    fill(db, 0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    auto store = outbox::open_store("sqlite:" + db);
    auto timing = std::make_unique<TimingSink>(
        outbox::open_sink("kafka://" + brokers + "/bench_latency_" + tag, {{"linger.ms", flags.str("linger-ms")}}));
    TimingSink* sink = timing.get();
    outbox::RelayOptions o;
    o.outbox = "bench";
    o.consumer = "latency";
    outbox::Relay relay(*store, *sink, o);
    std::thread runner([&] { relay.run(); });
    // Warm up: the first message creates the topic and gets the producer id; wait for its ack
    // so that topic creation is not measured as latency.
    {
      sqlite3* wdb = nullptr;
      sqlite3_open(db.c_str(), &wdb);
      sqlite3_busy_timeout(wdb, 5000);
      outbox::sqlite::Outbox box("bench", registry());
      exec(wdb, "BEGIN");
      outbox::Message m;
      m.type = "order_created";
      m.data = {{"warmup", true}};
      box.put(wdb, m);
      exec(wdb, "COMMIT");
      sqlite3_close(wdb);
      for (int i = 0; i < 300 && sink->latencies().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      sink->reset();
    }
    const pid_t writer = fork();
    if (writer == 0) write_steadily(db, rate, seconds, bytes);
    waitpid(writer, nullptr, 0);
    const auto expected = static_cast<std::size_t>(rate * seconds);
    for (int i = 0; i < 100 && sink->latencies().size() < expected; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    relay.stop();
    runner.join();
    const auto l = sink->latencies();
    std::printf("commit -> Kafka-acknowledged latency at %.0f msg/s for %.0f s (writer in another process), linger.ms=%s\n",
                rate, seconds, flags.str("linger-ms").c_str());
    std::printf("  samples %zu of %zu; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", l.size(), expected,
                bench::percentile(l, 50), bench::percentile(l, 90), bench::percentile(l, 99),
                l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
  }
  std::filesystem::remove_all(dir);
  return 0;
}

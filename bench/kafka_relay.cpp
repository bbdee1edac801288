// Relay -> Kafka against raw librdkafka, in one run, and commit -> broker-acknowledged latency.
//
//   outbox_bench_kafka --brokers 127.0.0.1:9092 [--messages 200000] [--linger-ms 1] [--reps 3]
//   outbox_bench_kafka --brokers ... --mode latency [--rate 1000] [--seconds 15] [--linger-ms 0]
//
// The source outbox is a SQLite file in a fresh folder under --dir, or with --postgres a fresh
// database on --server (default $OUTBOX_PG_URI), dropped afterwards. (bench/run_kafka.sh starts a
// throwaway broker and a throwaway PostgreSQL cluster and runs both modes from both sources.)
// Prints figures; never fails on time.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "bench_util.hpp"
#include "outbox/kafka.hpp"
#include "relay_source.hpp"

namespace {

const char* kUsage = "outbox_bench_kafka: relay -> Kafka throughput vs raw librdkafka, and commit -> ack latency";

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
  const std::string pad = bench::payload_text(bytes);
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

}  // namespace

int run(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"brokers", ""},
                      {"mode", "throughput"},
                      {"messages", "200000"},
                      {"bytes", "200"},
                      // The sink's default, which `outbox relay` keeps unless -X linger.ms= is given.
                      {"linger-ms", std::to_string(outbox::kafka::kDefaultLingerMs)},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"dir", "/tmp"},
                      {"postgres", "false"},
                      {"server", ""},
                      {"reps", "3"},
                      // The relay's defaults, which `outbox relay` keeps unless told otherwise
                      // (--batch-size, --max-in-flight): issue 14 asks for the ratio at the CLI's
                      // batch size.
                      {"batch-size", std::to_string(outbox::RelayOptions{}.batch_size)},
                      {"max-in-flight", std::to_string(outbox::RelayOptions{}.max_in_flight)}},
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
  if (flags.integer("batch-size") < 1 || flags.integer("max-in-flight") < 1) {
    throw std::runtime_error("--batch-size and --max-in-flight must be at least 1");
  }
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-kafka");
  struct RemoveDir {  // also when a step throws
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const std::string tag = std::to_string(getpid());

  const bench::RelaySource source_outbox(flags.flag("postgres"), flags.str("server"), dir,
                                         throughput ? "bench_kafka" : "bench_kafka_latency");
  const std::string& store_uri = source_outbox.uri();
  const char* source = source_outbox.name();

  if (throughput) {
    const auto n = flags.integer("messages");
    std::printf("filling the %s outbox with %lld messages ...\n", source, static_cast<long long>(n));
    std::fflush(stdout);
    const auto fill_start = bench::mono_ns();
    source_outbox.fill(n, bytes);
    std::printf("  filled in %.1f s\n", bench::seconds_since(fill_start));
    std::printf(
        "relay -> Kafka throughput, %lld messages of ~%zu-byte data, linger.ms=%s, relay batch size %lld and "
        "in-flight limit %lld, broker on this machine\n",
        static_cast<long long>(n), bytes, flags.str("linger-ms").c_str(),
        static_cast<long long>(flags.integer("batch-size")), static_cast<long long>(flags.integer("max-in-flight")));
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
          auto sink =
              outbox::open_sink("kafka://" + brokers + "/bench_relay_" + run, {{"linger.ms", flags.str("linger-ms")}});
          relay.push_back(bench::relay_all(store_uri, "bench_" + run, *sink,
                                           static_cast<std::size_t>(flags.integer("batch-size")), n,
                                           static_cast<std::size_t>(flags.integer("max-in-flight"))));
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
    source_outbox.fill(0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    bench::SteadyWriter writer(store_uri, rate, seconds, bytes);
    // Warm up: the first message creates the topic and gets the producer id; wait for its ack
    // so that topic creation is not measured as latency.
    auto warm_up = [&](bench::TimingSink& sink) {
      auto w = bench::open_writer(store_uri);
      w->begin();
      outbox::Message m;
      m.type = "order_created";
      m.data = {{"warmup", true}};
      w->put(m);
      w->commit();
      for (int i = 0; i < 300 && sink.latencies().empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    };
    bench::measure_latency(
        "commit -> Kafka-acknowledged latency, " + std::string(source) + " source, linger.ms=" + flags.str("linger-ms"),
        store_uri, writer,
        outbox::open_sink("kafka://" + brokers + "/bench_latency_" + tag, {{"linger.ms", flags.str("linger-ms")}}),
        rate, seconds, warm_up);
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

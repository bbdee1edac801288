// Relay -> Redis Streams against raw hiredis, in one run, and commit -> XADD-acknowledged latency.
//
//   outbox_bench_redis --server 127.0.0.1:6379 [--messages 200000] [--bytes 200] [--reps 3] [--batch 5000]
//   outbox_bench_redis --server ... --mode latency [--rate 1000] [--seconds 15]
//
// The source outbox is a SQLite file in a fresh folder under --dir (or with --postgres a fresh
// database on --pg-server, default $OUTBOX_PG_URI). The raw client sends the same
// entries (same fields, data serialized per message as the relay does) from memory, pipelined in
// batches of --batch XADDs per round trip: the ceiling for the relay, whose sink sends each batch
// of --batch messages as one MULTI/XADD.../EXEC round trip. (bench/run_redis.sh starts a throwaway
// server with AOF and appendfsync always.) Prints figures; never fails on time.
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "bench_util.hpp"
#include "relay_source.hpp"

namespace {

const char* kUsage = "outbox_bench_redis: relay -> Redis Streams throughput vs raw hiredis, and commit -> ack latency";

std::pair<std::string, int> host_port(const std::string& server) {
  const auto colon = server.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--server takes HOST:PORT");
  return {server.substr(0, colon), std::stoi(server.substr(colon + 1))};
}

struct Redis {
  explicit Redis(const std::string& server) {
    const auto [host, port] = host_port(server);
    c = redisConnect(host.c_str(), port);
    if (c == nullptr || c->err) throw std::runtime_error("cannot connect to redis at " + server);
  }
  ~Redis() { redisFree(c); }
  std::string command(const std::vector<std::string>& words) {
    std::vector<const char*> argv;
    std::vector<size_t> len;
    for (const auto& w : words) {
      argv.push_back(w.data());
      len.push_back(w.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), len.data()));
    if (r == nullptr) throw std::runtime_error(std::string("redis: ") + c->errstr);
    // CONFIG GET answers [name, value]: the value.
    const redisReply* v = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : r;
    std::string out = v->str ? std::string(v->str, v->len) : std::to_string(v->integer);
    freeReplyObject(r);
    return out;
  }
  redisContext* c = nullptr;
};

// Raw hiredis: the same fields per entry as the sink writes, `batch` XADDs per round trip; with
// `transaction`, wrapped in MULTI/EXEC as the sink sends them. The two differ by more than the two
// extra commands when the server fsyncs per write (appendfsync always): Redis fsyncs once per event
// loop iteration, which runs the plain XADDs of one socket read (16 KB) but a whole EXEC at once.
double raw_hiredis(const std::string& server, const std::string& stream, std::int64_t n, std::size_t bytes,
                   std::int64_t batch, bool transaction) {
  Redis redis(server);
  const std::string pad = bench::payload_text(bytes);
  std::int64_t acked = 0;
  const auto start = bench::mono_ns();
  std::vector<const char*> argv;
  std::vector<size_t> len;
  for (std::int64_t from = 1; from <= n; from += batch) {
    const std::int64_t to = std::min(n, from + batch - 1);
    if (transaction) redisAppendCommand(redis.c, "MULTI");
    for (std::int64_t i = from; i <= to; ++i) {
      const std::string data = nlohmann::json{{"ordernr", i}, {"pad", pad}}.dump();
      const std::string key = "order-" + std::to_string(i % 64);
      const std::string pos = std::to_string(i);
      const std::string words[] = {"XADD",
                                   stream,
                                   "*",
                                   "id",
                                   "01930000-0000-7000-8000-000000000000",
                                   "type",
                                   "order_created",
                                   "outbox",
                                   "bench",
                                   "created",
                                   "2026-11-29T00:00:00.000000Z",
                                   "position",
                                   pos,
                                   "key",
                                   key,
                                   "data",
                                   data};
      argv.clear();
      len.clear();
      for (const auto& w : words) {
        argv.push_back(w.data());
        len.push_back(w.size());
      }
      redisAppendCommandArgv(redis.c, static_cast<int>(argv.size()), argv.data(), len.data());
    }
    if (transaction) redisAppendCommand(redis.c, "EXEC");
    const std::int64_t replies = to - from + 1 + (transaction ? 2 : 0);
    for (std::int64_t i = 0; i < replies; ++i) {
      void* raw = nullptr;
      if (redisGetReply(redis.c, &raw) != REDIS_OK) throw std::runtime_error(std::string("raw: ") + redis.c->errstr);
      const auto* r = static_cast<redisReply*>(raw);
      if (r->type == REDIS_REPLY_STRING) ++acked;
      if (r->type == REDIS_REPLY_ARRAY) {
        for (std::size_t j = 0; j < r->elements; ++j) acked += r->element[j]->type == REDIS_REPLY_STRING;
      }
      freeReplyObject(raw);
    }
  }
  const double secs = bench::seconds_since(start);
  if (acked != n)
    std::printf("  raw: only %lld of %lld acknowledged\n", static_cast<long long>(acked), static_cast<long long>(n));
  return static_cast<double>(n) / secs;
}

}  // namespace

int run(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"server", ""},
                      {"mode", "throughput"},
                      {"messages", "200000"},
                      {"bytes", "200"},
                      {"batch", "5000"},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"dir", "/tmp"},
                      {"reps", "3"},
                      {"appendfsync", ""},
                      {"postgres", "false"},
                      {"pg-server", ""}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_redis%s\n", flags.command_line().c_str());
  std::string server = flags.str("server");
  if (server.empty() && std::getenv("REDIS_PORT")) server = std::string("127.0.0.1:") + std::getenv("REDIS_PORT");
  if (server.empty()) {
    std::fprintf(stderr, "give --server HOST:PORT (or run bench/run_redis.sh, which starts a server)\n");
    return 2;
  }
  if (flags.str("mode") != "throughput" && flags.str("mode") != "latency") {
    throw std::runtime_error("--mode must be throughput or latency, not '" + flags.str("mode") + "'");
  }
  const bool throughput = flags.str("mode") == "throughput";
  if (flags.integer("reps") < 1 || flags.integer("batch") < 1)
    throw std::runtime_error("--reps and --batch must be at least 1");
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-redis");
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  {
    Redis redis(server);
    // --appendfsync always|everysec|no: set on the server for this run (CONFIG SET), to separate
    // the fsync's cost from the relay's.
    if (!flags.str("appendfsync").empty()) redis.command({"CONFIG", "SET", "appendfsync", flags.str("appendfsync")});
    std::printf("server: appendonly %s, appendfsync %s\n", redis.command({"CONFIG", "GET", "appendonly"}).c_str(),
                redis.command({"CONFIG", "GET", "appendfsync"}).c_str());
  }
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const auto batch = flags.integer("batch");
  const std::string tag = std::to_string(getpid());
  const bench::RelaySource source(flags.flag("postgres"), flags.str("pg-server"), dir,
                                  throughput ? "bench_redis" : "bench_redis_latency");
  const std::string& store_uri = source.uri();

  if (throughput) {
    const auto n = flags.integer("messages");
    std::printf("filling the %s outbox with %lld messages ...\n", source.name(), static_cast<long long>(n));
    std::fflush(stdout);
    source.fill(n, bytes);
    std::printf(
        "relay -> Redis throughput, %lld messages of ~%zu-byte data, %lld per round trip, server on this machine\n",
        static_cast<long long>(n), bytes, static_cast<long long>(batch));
    // The three variants rotate (A B C, B C A, C A B, ...), each to a new stream, deleted after, so
    // that other load on the machine falls on all of them.
    const int reps = static_cast<int>(flags.integer("reps"));
    std::vector<double> raw, raw_multi, relay;
    Redis admin(server);
    for (int r = 0; r < reps; ++r) {
      for (int k = 0; k < 3; ++k) {
        const std::string run = tag + "_" + std::to_string(r) + "_" + std::to_string(k);
        const std::string stream = "bench_" + run;
        switch ((r + k) % 3) {
          case 0:
            raw.push_back(raw_hiredis(server, stream, n, bytes, batch, false));
            break;
          case 1:
            raw_multi.push_back(raw_hiredis(server, stream, n, bytes, batch, true));
            break;
          default:
            auto sink = outbox::open_sink("redis://" + server + "/" + stream);
            relay.push_back(bench::relay_all(store_uri, "bench_" + run, *sink, static_cast<std::size_t>(batch), n));
            break;
        }
        admin.command({"DEL", stream});
      }
      std::printf("  run %d of %d: raw XADD %.0f msg/s, raw MULTI/XADD/EXEC %.0f msg/s, relay %.0f msg/s\n", r + 1,
                  reps, raw.back(), raw_multi.back(), relay.back());
      std::fflush(stdout);
    }
    std::printf("  %-36s%10.0f msg/s (median of %d)\n", "raw hiredis, pipelined XADD:", bench::median(raw), reps);
    std::printf("  %-36s%10.0f msg/s (median of %d)\n", "raw hiredis, MULTI/XADD.../EXEC:", bench::median(raw_multi),
                reps);
    std::printf("  %-36s%10.0f msg/s (median of %d)\n", ("relay " + std::string(source.name()) + " -> Redis:").c_str(),
                bench::median(relay), reps);
    std::printf("  %-36s%10.2f\n", "ratio relay / raw XADD:", bench::median(relay) / bench::median(raw));
    std::printf("  %-36s%10.2f\n", "ratio relay / raw MULTI/EXEC:", bench::median(relay) / bench::median(raw_multi));
  } else {
    source.fill(0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    bench::SteadyWriter writer(store_uri, rate, seconds, bytes);
    const std::string stream = "bench_latency_" + tag;
    bench::measure_latency("commit -> Redis-acknowledged latency (appendfsync " + flags.str("appendfsync") + "), " +
                               std::string(source.name()) + " source",
                           store_uri, writer, outbox::open_sink("redis://" + server + "/" + stream), rate, seconds);
    Redis(server).command({"DEL", stream});
  }
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench_redis: %s\n", e.what());
    return 1;
  }
}

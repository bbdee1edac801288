// Relay -> NATS JetStream against raw libnats publishing the same messages from memory, in one run,
// and commit -> PubAck latency at a steady rate:
//
//   outbox_bench_nats --server 127.0.0.1:4222 [--messages 100000] [--bytes 200] [--reps 3]
//   outbox_bench_nats --server 127.0.0.1:4222 --mode latency [--rate 1000] [--seconds 15] [--latency-sink null:]
//
// Both sides publish asynchronously (js_PublishMsgAsync, at most --max-pending awaiting a PubAck)
// with the same headers (envelope, Nats-Msg-Id, Outbox-Key) and count a message when its PubAck
// arrives; each run goes to a fresh file-storage stream. The source outbox is a SQLite file in a
// fresh folder under --dir, or with --postgres a fresh database on --pg-server (default
// $OUTBOX_PG_URI). (bench/run_nats.sh starts a throwaway nats-server and runs this.)
// Prints figures; never fails on time.
#include <nats/nats.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "bench_util.hpp"
#include "relay_source.hpp"

namespace {

const char* kUsage = "outbox_bench_nats: relay -> NATS JetStream throughput vs raw libnats";

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) throw std::runtime_error(std::string(what) + ": " + nats_GetLastError(nullptr));
}

// One connection for stream set-up.
struct Admin {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit Admin(const std::string& server) {
    check(natsConnection_ConnectTo(&nc, ("nats://" + server).c_str()), "connect");
    check(natsConnection_JetStream(&js, nc, nullptr), "JetStream context");
  }
  ~Admin() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  void add_stream(const std::string& name, const std::string& subject) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    check(js_AddStream(nullptr, js, &cfg, nullptr, nullptr), "add stream");
  }
  void delete_stream(const std::string& name) { js_DeleteStream(js, name.c_str(), nullptr, nullptr); }
};

std::atomic<std::int64_t> raw_acked{0};

void raw_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr*, void*) {
  if (ack != nullptr) ++raw_acked;
  natsMsg_Destroy(msg);
}

// Raw libnats with the sink's settings and the same work per message (serialize data, the same
// headers): the ceiling for the relay.
double raw_libnats(const std::string& server, const std::string& subject, std::int64_t n, std::size_t bytes,
                   std::int64_t max_pending) {
  natsConnection* nc = nullptr;
  check(natsConnection_ConnectTo(&nc, ("nats://" + server).c_str()), "connect");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = max_pending;
  jo.PublishAsync.AckHandler = raw_ack;
  jo.PublishAsync.StallWait = 200;
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, &jo), "JetStream context");
  raw_acked = 0;
  const std::string pad = bench::payload_text(bytes);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 5000;
  const auto start = bench::mono_ns();
  for (std::int64_t i = 1; i <= n; ++i) {
    const std::string value = nlohmann::json{{"ordernr", i}, {"pad", pad}}.dump();
    const std::string pos = std::to_string(i), key = "order-" + std::to_string(i % 64);
    const std::string id =
        "01930000-0000-7000-8000-" + std::string(12 - std::min<std::size_t>(12, pos.size()), '0') + pos;
    natsMsg* m = nullptr;
    natsMsg_Create(&m, subject.c_str(), nullptr, value.data(), static_cast<int>(value.size()));
    natsMsgHeader_Add(m, "id", id.c_str());
    natsMsgHeader_Add(m, "type", "order_created");
    natsMsgHeader_Add(m, "outbox", "bench");
    natsMsgHeader_Add(m, "created", "2026-11-29T00:00:00.000000Z");
    natsMsgHeader_Add(m, "position", pos.c_str());
    natsMsgHeader_Add(m, "Nats-Msg-Id", id.c_str());
    natsMsgHeader_Add(m, "Outbox-Key", key.c_str());
    while (js_PublishMsgAsync(js, &m, &po) == NATS_TIMEOUT) {
    }  // stalled at max_pending: as the sink, wait on
    natsMsg_Destroy(m);
  }
  jsPubOptions done;
  jsPubOptions_Init(&done);
  done.MaxWait = 60000;
  js_PublishAsyncComplete(js, &done);
  const double secs = bench::seconds_since(start);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  if (raw_acked != n) {
    std::printf("  raw: only %lld of %lld acknowledged\n", static_cast<long long>(raw_acked.load()),
                static_cast<long long>(n));
  }
  return static_cast<double>(n) / secs;
}

// Commit -> PubAck latency: the relay runs on while another process writes at `rate`.
// `sink_uri` other than "" replaces the NATS sink (e.g. null:, a baseline on the same machine).
void latency(const std::string& server, const bench::RelaySource& source, double rate, double seconds,
             std::size_t bytes, const std::string& tag, const std::string& sink_uri) {
  source.fill(0, bytes);
  bench::SteadyWriter writer(source.uri(), rate, seconds, bytes);  // before libnats starts its threads
  Admin admin(server);
  const std::string stream = "BENCH_LATENCY_" + tag, subject = "bench.latency." + tag;
  admin.add_stream(stream, subject);
  bench::measure_latency("commit -> acknowledged latency, " + std::string(source.name()) + " source", source.uri(),
                         writer, outbox::open_sink(sink_uri.empty() ? "nats://" + server + "/" + subject : sink_uri),
                         rate, seconds);
  admin.delete_stream(stream);
}

}  // namespace

int run(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"server", ""},
                      {"mode", "throughput"},
                      {"messages", "100000"},
                      {"bytes", "200"},
                      {"reps", "3"},
                      {"max-pending", "4096"},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"latency-sink", ""},
                      {"dir", "/tmp"},
                      {"postgres", "false"},
                      {"pg-server", ""}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_nats%s\n", flags.command_line().c_str());
  std::string server = flags.str("server");
  if (server.empty() && std::getenv("NATS_SERVER_ADDRESS")) server = std::getenv("NATS_SERVER_ADDRESS");
  if (server.empty()) {
    std::fprintf(stderr, "give --server HOST:PORT (or run bench/run_nats.sh, which starts a server)\n");
    return 2;
  }
  if (flags.str("mode") != "throughput" && flags.str("mode") != "latency") {
    throw std::runtime_error("--mode must be throughput or latency, not '" + flags.str("mode") + "'");
  }
  const auto reps = static_cast<int>(flags.integer("reps"));
  if (reps < 1) throw std::runtime_error("--reps must be at least 1");
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-nats");
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  const auto n = flags.integer("messages");
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const auto max_pending = flags.integer("max-pending");
  const std::string tag = std::to_string(getpid());
  const bool throughput = flags.str("mode") == "throughput";
  const bench::RelaySource source(flags.flag("postgres"), flags.str("pg-server"), dir,
                                  throughput ? "bench_nats" : "bench_nats_latency");
  if (!throughput) {
    latency(server, source, flags.num("rate"), flags.num("seconds"), bytes, tag, flags.str("latency-sink"));
    std::printf("load average at the end: %s\n", bench::loadavg().c_str());
    return 0;
  }

  std::printf("filling the %s outbox with %lld messages ...\n", source.name(), static_cast<long long>(n));
  std::fflush(stdout);
  source.fill(n, bytes);
  std::printf(
      "relay -> NATS JetStream throughput, %lld messages of ~%zu-byte data, max_pending=%lld, file storage, "
      "server on this machine\n",
      static_cast<long long>(n), bytes, static_cast<long long>(max_pending));
  std::fflush(stdout);
  Admin admin(server);
  // Raw and relay alternate (raw relay, relay raw, ...), each to a new stream (deleted after), so
  // that the server's warm-up and other load fall on both; the figures are the medians.
  std::vector<double> raw, relay;
  for (int r = 0; r < reps; ++r) {
    for (int k = 0; k < 2; ++k) {
      const std::string run = tag + "_" + std::to_string(r);
      const bool do_raw = (k == 0) == (r % 2 == 0);
      const std::string stream = (do_raw ? "BENCH_RAW_" : "BENCH_RELAY_") + run;
      const std::string subject = (do_raw ? "bench.raw." : "bench.relay.") + run;
      admin.add_stream(stream, subject);
      if (do_raw) {
        raw.push_back(raw_libnats(server, subject, n, bytes, max_pending));
      } else {
        auto sink =
            outbox::open_sink("nats://" + server + "/" + subject + "?max_pending=" + std::to_string(max_pending));
        relay.push_back(bench::relay_all(source.uri(), "bench_" + run, *sink, 5000, n));
      }
      admin.delete_stream(stream);
    }
    std::printf("  run %d of %d: raw %.0f msg/s, relay %.0f msg/s, ratio %.2f\n", r + 1, reps, raw.back(), relay.back(),
                relay.back() / raw.back());
    std::fflush(stdout);
  }
  std::printf("  %-28s%10.0f msg/s (median of %d)\n", "raw libnats from memory:", bench::median(raw), reps);
  std::printf("  %-28s%10.0f msg/s (median of %d)\n", ("relay " + std::string(source.name()) + " -> NATS:").c_str(),
              bench::median(relay), reps);
  std::printf("  %-28s%10.2f\n", "ratio relay / raw:", bench::median(relay) / bench::median(raw));
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench_nats: %s\n", e.what());
    return 1;
  }
}

// Relay -> NATS JetStream against raw libnats publishing the same messages from memory, in one run,
// and commit -> PubAck latency at a steady rate:
//
//   outbox_bench_nats --server 127.0.0.1:4222 [--messages 100000] [--bytes 200] [--reps 3]
//   outbox_bench_nats --server 127.0.0.1:4222 --mode latency [--rate 1000] [--seconds 15] [--latency-sink null:]
//
// Both sides publish asynchronously (js_PublishMsgAsync, at most --max-pending awaiting a PubAck)
// with the same headers (envelope, Nats-Msg-Id, Outbox-Key) and count a message when its PubAck
// arrives; each run goes to a fresh file-storage stream. The source outbox is a SQLite file in a
// fresh folder under --dir. (bench/run_nats.sh starts a throwaway nats-server and runs this.)
// Prints figures; never fails on time.
#include <nats/nats.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench_util.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"
#include "timing_sink.hpp"

namespace {

const char* kUsage = "outbox_bench_nats: relay -> NATS JetStream throughput vs raw libnats";

std::string payload_text(std::size_t bytes) { return std::string(bytes > 40 ? bytes - 40 : 1, 'x'); }

outbox::SchemaRegistry registry() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(R"({"order_created": {"type": "object"}})"));
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
}

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
  const std::string pad = payload_text(bytes);
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

void fill(const std::string& path, std::int64_t n, std::size_t bytes) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error(path + ": " + sqlite3_errmsg(db));
  outbox::sqlite::Outbox box("bench", registry());
  box.init(db);
  {
    auto w = box.writer(db);
    const std::string pad = payload_text(bytes);
    for (std::int64_t i = 1; i <= n;) {
      exec(db, "BEGIN");
      for (int j = 0; j < 10000 && i <= n; ++j, ++i) {
        outbox::Message m;
        m.type = "order_created";
        m.key = "order-" + std::to_string(i % 64);
        m.data = {{"ordernr", i}, {"pad", pad}};
        w.put(std::move(m));
      }
      exec(db, "COMMIT");
    }
  }
  sqlite3_close(db);
}

// A new consumer each time, so that every run relays the whole outbox from the start.
double relay_to_nats(const std::string& store_uri, const std::string& consumer, const std::string& server,
                     const std::string& subject, std::int64_t max_pending, std::int64_t expected) {
  auto store = outbox::open_store(store_uri);
  auto sink = outbox::open_sink("nats://" + server + "/" + subject + "?max_pending=" + std::to_string(max_pending));
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

// The writer process: one message per transaction at a steady rate, into the SQLite outbox.
[[noreturn]] void write_steadily(const std::string& path, double rate, double seconds, std::size_t bytes) {
  try {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error(path + ": " + sqlite3_errmsg(db));
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
      w.put(std::move(m));
      exec(db, "COMMIT");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer process: %s\n", e.what());
    _exit(1);
  }
  _exit(0);
}

// Commit -> PubAck latency: the relay runs on while another process writes at `rate`.
// `sink_uri` other than "" replaces the NATS sink (e.g. null:, a baseline on the same machine).
void latency(const std::string& server, const std::string& db, double rate, double seconds, std::size_t bytes,
             const std::string& tag, const std::string& sink_uri) {
  fill(db, 0, bytes);
  // The writer is forked before any thread of this process exists (the relay's, libnats'): a fork
  // while another thread holds SQLite's allocator mutex left the child waiting for it forever.
  int go[2];
  if (pipe(go) != 0) throw std::runtime_error("pipe failed");
  const pid_t writer = fork();
  if (writer == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);  // the parent gave up before starting
    write_steadily(db, rate, seconds, bytes);
  }
  close(go[0]);
  Admin admin(server);
  const std::string stream = "BENCH_LATENCY_" + tag, subject = "bench.latency." + tag;
  admin.add_stream(stream, subject);
  auto store = outbox::open_store("sqlite:" + db);
  auto timing = std::make_unique<bench::TimingSink>(
      outbox::open_sink(sink_uri.empty() ? "nats://" + server + "/" + subject : sink_uri));
  bench::TimingSink* sink = timing.get();
  outbox::RelayOptions o;
  o.outbox = "bench";
  o.consumer = "latency";
  outbox::Relay relay(*store, *sink, o);
  std::thread runner([&] { relay.run(); });
  std::printf("writing %.0f msg/s for %.0f s into the SQLite outbox ...\n", rate, seconds);
  std::fflush(stdout);
  if (write(go[1], "g", 1) != 1) throw std::runtime_error("cannot start the writer process");
  close(go[1]);
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
  admin.delete_stream(stream);
  const auto l = sink->latencies();
  std::printf(
      "commit -> acknowledged latency (%s), SQLite source, at %.0f msg/s for %.0f s (writer in another process)\n",
      sink->describe().c_str(), rate, seconds);
  std::printf("  samples %zu of %zu; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", l.size(), expected,
              bench::percentile(l, 50), bench::percentile(l, 90), bench::percentile(l, 99),
              l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
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
                      {"dir", "/tmp"}},
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
  const std::string db = (dir / "relay.db").string();
  if (flags.str("mode") == "latency") {
    latency(server, (dir / "latency.db").string(), flags.num("rate"), flags.num("seconds"), bytes, tag,
            flags.str("latency-sink"));
    std::printf("load average at the end: %s\n", bench::loadavg().c_str());
    return 0;
  }

  std::printf("filling the SQLite outbox with %lld messages ...\n", static_cast<long long>(n));
  std::fflush(stdout);
  fill(db, n, bytes);
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
        relay.push_back(relay_to_nats("sqlite:" + db, "bench_" + run, server, subject, max_pending, n));
      }
      admin.delete_stream(stream);
    }
    std::printf("  run %d of %d: raw %.0f msg/s, relay %.0f msg/s, ratio %.2f\n", r + 1, reps, raw.back(), relay.back(),
                relay.back() / raw.back());
    std::fflush(stdout);
  }
  std::printf("  %-28s%10.0f msg/s (median of %d)\n", "raw libnats from memory:", bench::median(raw), reps);
  std::printf("  %-28s%10.0f msg/s (median of %d)\n", "relay SQLite -> NATS:", bench::median(relay), reps);
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

// Relay -> HTTP webhook against a raw httplib client POSTing the same messages from memory, in one
// run, alternating.
//
//   outbox_bench_webhook [--messages 20000] [--bytes 200] [--reps 3] [--batch 1]
//   outbox_bench_webhook --mode latency [--rate 1000] [--seconds 15] [--latency-sink null:]
//
// The receiver is an httplib server in this process on a loopback port that answers 204 and counts;
// both variants talk to it, one POST at a time on one keep-alive connection (TCP_NODELAY), with the
// same body (the message's JSON form) and the same Outbox-* envelope headers, so the ratio is what
// the relay costs over the HTTP round trips. --batch N posts N messages per request in both
// variants. The source outbox is a SQLite file under --dir. Prints figures; never fails on time.
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench_util.hpp"
#include "outbox/envelope.hpp"
#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

namespace {

const char* kUsage = "outbox_bench_webhook: relay -> HTTP webhook throughput vs a raw httplib client";

std::string payload_text(std::size_t bytes) { return std::string(bytes > 40 ? bytes - 40 : 1, 'x'); }

outbox::SchemaRegistry registry() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(R"({"order_created": {"type": "object"}})"));
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
}

outbox::Message order_message(std::int64_t ordernr, const std::string& pad) {
  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + std::to_string(ordernr % 64);
  m.data = {{"ordernr", ordernr}, {"pad", pad}};
  return m;
}

void fill(const std::string& path, std::int64_t n, std::size_t bytes) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error(path + ": " + sqlite3_errmsg(db));
  {
    outbox::sqlite::Outbox box("bench", registry());
    box.init(db);
    auto writer = box.writer(db);
    const std::string pad = payload_text(bytes);
    for (std::int64_t i = 1; i <= n;) {
      exec(db, "BEGIN");
      for (int j = 0; j < 10000 && i <= n; ++j, ++i) writer.put(order_message(i, pad));
      exec(db, "COMMIT");
    }
  }
  sqlite3_close(db);
}

class Receiver {
 public:
  Receiver() {
    server_.Post(".*", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int port() const { return port_; }
  std::int64_t requests() const { return requests_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::atomic<std::int64_t> requests_{0};
  std::thread thread_;
};

// The messages as the relay would read them, built in memory: same JSON form, same headers.
std::vector<outbox::Message> messages_in_memory(std::int64_t n, std::size_t bytes) {
  const std::string pad = payload_text(bytes);
  std::vector<outbox::Message> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 1; i <= n; ++i) {
    auto m = order_message(i, pad);
    m.id = "01930000-0000-7000-8000-000000000000";
    m.outbox = "bench";
    m.position = i;
    m.created = outbox::now();
    out.push_back(std::move(m));
  }
  return out;
}

double raw_httplib(const Receiver& receiver, const std::vector<outbox::Message>& messages, std::int64_t batch) {
  httplib::Client c("127.0.0.1", receiver.port());
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  const auto start = bench::mono_ns();
  std::int64_t acked = 0;
  const auto n = static_cast<std::int64_t>(messages.size());
  for (std::int64_t from = 0; from < n; from += batch) {
    const std::int64_t to = std::min(n, from + batch);
    std::string body;
    httplib::Headers headers;
    if (batch == 1) {
      body = outbox::to_json_line(messages[static_cast<std::size_t>(from)]);
      for (const auto& h : outbox::envelope_headers(messages[static_cast<std::size_t>(from)], {})) {
        headers.emplace("Outbox-" + h.name, h.value);
      }
    } else {
      body = "[";
      for (std::int64_t i = from; i < to; ++i) {
        if (i > from) body += ',';
        body += outbox::to_json_line(messages[static_cast<std::size_t>(i)]);
      }
      body += ']';
    }
    const auto r = c.Post("/raw", headers, body, "application/json");
    if (r && r->status / 100 == 2) acked += to - from;
  }
  const double secs = bench::seconds_since(start);
  if (acked != n)
    std::printf("  raw: only %lld of %lld acknowledged\n", static_cast<long long>(acked), static_cast<long long>(n));
  return static_cast<double>(n) / secs;
}

// A new consumer each time, so that every run relays the whole outbox from the start.
double relay_to_webhook(const std::string& store_uri, const std::string& consumer, const Receiver& receiver,
                        std::int64_t batch, std::int64_t expected) {
  auto store = outbox::open_store(store_uri);
  auto sink = outbox::open_sink(receiver.url("/relay?batch=" + std::to_string(batch)));
  outbox::RelayOptions o;
  o.outbox = "bench";
  o.consumer = consumer;
  o.stop_when_idle = true;
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

// Forwards to the webhook sink and times each acknowledgement against the message's `created`
// (set by put, just before the writer's COMMIT).
class TimingSink final : public outbox::Sink {
 public:
  explicit TimingSink(std::unique_ptr<outbox::Sink> inner) : inner_(std::move(inner)) {}
  std::string describe() const override { return "timed " + inner_->describe(); }
  std::vector<double> latencies() {
    std::lock_guard lock(mutex_);
    return latencies_ms_;
  }

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    std::unordered_map<std::int64_t, outbox::Timestamp> created;
    for (const auto& m : batch) created[m.position] = m.created;
    inner_->publish(batch);  // synchronous: the outcomes are in when it returns
    const auto now = outbox::now();
    for (const auto& d : inner_->poll(std::chrono::milliseconds(0))) {
      if (d.outcome == outbox::Outcome::ok) {
        std::lock_guard lock(mutex_);
        latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - created.at(d.position)).count());
      }
      report(d.position, d.outcome, d.error);
    }
  }

 private:
  std::unique_ptr<outbox::Sink> inner_;
  std::mutex mutex_;
  std::vector<double> latencies_ms_;
};

// One message per transaction at a steady rate, in a child process (as an application would).
[[noreturn]] void write_steadily(const std::string& path, double rate, double seconds, std::size_t bytes) {
  try {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error(path);
    sqlite3_busy_timeout(db, 5000);
    outbox::sqlite::Outbox box("bench", registry());
    auto writer = box.writer(db);
    const std::string pad = payload_text(bytes);
    const auto start = bench::mono_ns();
    const auto total = static_cast<std::int64_t>(rate * seconds);
    for (std::int64_t i = 1; i <= total; ++i) {
      const auto due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
      while (bench::mono_ns() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
      exec(db, "BEGIN");
      writer.put(order_message(i, pad));
      exec(db, "COMMIT");
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
                     {{"mode", "throughput"},
                      {"messages", "20000"},
                      {"bytes", "200"},
                      {"batch", "1"},
                      {"dir", "/tmp"},
                      {"reps", "3"},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"latency-sink", ""}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_webhook%s\n", flags.command_line().c_str());
  if (flags.integer("reps") < 1 || flags.integer("batch") < 1 || flags.integer("messages") < 1) {
    throw std::runtime_error("--reps, --batch and --messages must be at least 1");
  }
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-webhook");
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  const auto n = flags.integer("messages");
  const auto bytes = static_cast<std::size_t>(flags.integer("bytes"));
  const auto batch = flags.integer("batch");
  const std::string db = (dir / "relay.db").string();
  if (flags.str("mode") == "latency") {
    fill(db, 0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    Receiver receiver;
    auto store = outbox::open_store("sqlite:" + db);
    // --latency-sink null: gives the baseline: the same relay and writer, no HTTP.
    const std::string sink_uri =
        flags.str("latency-sink").empty() ? receiver.url("/latency") : flags.str("latency-sink");
    TimingSink sink(outbox::open_sink(sink_uri));
    outbox::RelayOptions o;
    o.outbox = "bench";
    o.consumer = "latency";
    outbox::Relay relay(*store, sink, o);
    std::thread runner([&] { relay.run(); });
    std::printf("writing %.0f msg/s for %.0f s into the SQLite outbox ...\n", rate, seconds);
    std::fflush(stdout);
    const pid_t writer = fork();
    if (writer == 0) write_steadily(db, rate, seconds, bytes);
    int writer_status = 0;
    waitpid(writer, &writer_status, 0);
    if (!WIFEXITED(writer_status) || WEXITSTATUS(writer_status) != 0) {
      std::fprintf(stderr, "the writer process failed (see its message above); the figures below are incomplete\n");
    }
    const auto expected = static_cast<std::size_t>(rate * seconds);
    for (int i = 0; i < 100 && sink.latencies().size() < expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    relay.stop();
    runner.join();
    const auto l = sink.latencies();
    std::printf(
        "commit -> acknowledged latency, sink %s, SQLite source, at %.0f msg/s for %.0f s (writer in another "
        "process)\n",
        sink.describe().c_str(), rate, seconds);
    std::printf("  samples %zu of %zu; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", l.size(), expected,
                bench::percentile(l, 50), bench::percentile(l, 90), bench::percentile(l, 99),
                l.empty() ? 0.0 : *std::max_element(l.begin(), l.end()));
    std::printf("load average at the end: %s\n", bench::loadavg().c_str());
    return 0;
  }
  if (flags.str("mode") != "throughput") throw std::runtime_error("--mode is throughput or latency");
  std::printf("filling the SQLite outbox with %lld messages ...\n", static_cast<long long>(n));
  std::fflush(stdout);
  fill(db, n, bytes);
  const auto messages = messages_in_memory(n, bytes);
  Receiver receiver;
  std::printf("relay -> webhook throughput, %lld messages of ~%zu-byte data, %lld per POST, receiver in this process\n",
              static_cast<long long>(n), bytes, static_cast<long long>(batch));
  const int reps = static_cast<int>(flags.integer("reps"));
  std::vector<double> raw, relay;
  for (int r = 0; r < reps; ++r) {
    // Alternating which goes first, so that other load on the machine falls on both.
    for (int k = 0; k < 2; ++k) {
      if ((r + k) % 2 == 0) {
        raw.push_back(raw_httplib(receiver, messages, batch));
      } else {
        relay.push_back(relay_to_webhook("sqlite:" + db, "bench_" + std::to_string(r), receiver, batch, n));
      }
    }
    std::printf("  run %d of %d: raw httplib %.0f msg/s, relay %.0f msg/s\n", r + 1, reps, raw.back(), relay.back());
    std::fflush(stdout);
  }
  std::printf("  %-32s%10.0f msg/s (median of %d)\n", "raw httplib POSTs:", bench::median(raw), reps);
  std::printf("  %-32s%10.0f msg/s (median of %d)\n", "relay SQLite -> webhook:", bench::median(relay), reps);
  std::printf("  %-32s%10.2f\n", "ratio relay / raw:", bench::median(relay) / bench::median(raw));
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench_webhook: %s\n", e.what());
    return 1;
  }
}

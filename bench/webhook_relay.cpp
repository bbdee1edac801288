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
// variants. The source outbox is a SQLite file under --dir (or with --postgres a fresh database on
// --pg-server, default $OUTBOX_PG_URI). Prints figures; never fails on time.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "bench_util.hpp"
#include "outbox/envelope.hpp"
#include "relay_source.hpp"

namespace {

const char* kUsage = "outbox_bench_webhook: relay -> HTTP webhook throughput vs a raw httplib client";

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
  const std::string pad = bench::payload_text(bytes);
  std::vector<outbox::Message> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 1; i <= n; ++i) {
    auto m = bench::order_message(i, pad);
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
                      {"latency-sink", ""},
                      {"postgres", "false"},
                      {"pg-server", ""}},
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
  const bool throughput = flags.str("mode") == "throughput";
  if (!throughput && flags.str("mode") != "latency") throw std::runtime_error("--mode is throughput or latency");
  const bench::RelaySource source(flags.flag("postgres"), flags.str("pg-server"), dir,
                                  throughput ? "bench_webhook" : "bench_webhook_latency");
  if (!throughput) {
    source.fill(0, bytes);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    bench::SteadyWriter writer(source.uri(), rate, seconds, bytes);  // before the receiver's threads
    Receiver receiver;
    // --latency-sink null: gives the baseline: the same relay and writer, no HTTP.
    const std::string sink_uri =
        flags.str("latency-sink").empty() ? receiver.url("/latency") : flags.str("latency-sink");
    bench::measure_latency("commit -> acknowledged latency, " + std::string(source.name()) + " source", source.uri(),
                           writer, outbox::open_sink(sink_uri), rate, seconds);
    std::printf("load average at the end: %s\n", bench::loadavg().c_str());
    return 0;
  }
  std::printf("filling the %s outbox with %lld messages ...\n", source.name(), static_cast<long long>(n));
  std::fflush(stdout);
  source.fill(n, bytes);
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
        auto sink = outbox::open_sink(receiver.url("/relay?batch=" + std::to_string(batch)));
        relay.push_back(
            bench::relay_all(source.uri(), "bench_" + std::to_string(r), *sink, outbox::RelayOptions{}.batch_size, n));
      }
    }
    std::printf("  run %d of %d: raw httplib %.0f msg/s, relay %.0f msg/s\n", r + 1, reps, raw.back(), relay.back());
    std::fflush(stdout);
  }
  std::printf("  %-32s%10.0f msg/s (median of %d)\n", "raw httplib POSTs:", bench::median(raw), reps);
  std::printf("  %-32s%10.0f msg/s (median of %d)\n", ("relay " + std::string(source.name()) + " -> webhook:").c_str(),
              bench::median(relay), reps);
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

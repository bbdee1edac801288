// Relay -> RabbitMQ against raw librabbitmq, in one run, and commit -> confirmed latency.
//
//   outbox_bench_rabbitmq --server 127.0.0.1:5672 [--messages 100000] [--bytes 200] [--reps 3] [--batch 1000]
//   outbox_bench_rabbitmq --server 127.0.0.1:5672 --mode latency [--rate 1000] [--seconds 15]
//
// The source outbox is a SQLite file in a fresh folder under --dir (or with --postgres a fresh
// database on --pg-server, default $OUTBOX_PG_URI). The raw client publishes the same
// messages (same properties and headers table, data serialized per message as the sink does) from
// memory on a channel in confirm mode, mandatory and persistent, --batch publishes then the wait for
// their confirms: the ceiling for the relay, whose sink does exactly that per batch of --batch
// messages. Both go to a direct exchange bound to one durable queue, purged after each run.
// (bench/run_rabbitmq.sh starts a throwaway broker.) The two alternate (A B, B A, ...) so that other
// load on the machine falls on both. Prints figures; never fails on time.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "bench_util.hpp"
#include "relay_source.hpp"

namespace {

const char* kUsage = "outbox_bench_rabbitmq: relay -> RabbitMQ throughput vs raw librabbitmq with confirms";

amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

void check(const amqp_rpc_reply_t& r, const char* what) {
  if (r.reply_type != AMQP_RESPONSE_NORMAL) throw std::runtime_error(std::string("rabbitmq: ") + what + " failed");
}

// A connection with channel 1 open (in confirm mode when asked).
struct Amqp {
  Amqp(const std::string& server, bool confirms) {
    const auto colon = server.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("--server takes HOST:PORT");
    conn = amqp_new_connection();
    amqp_socket_t* s = amqp_tcp_socket_new(conn);
    if (amqp_socket_open(s, server.substr(0, colon).c_str(), std::stoi(server.substr(colon + 1))) != AMQP_STATUS_OK)
      throw std::runtime_error("cannot connect to rabbitmq at " + server);
    check(amqp_login(conn, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    check(amqp_get_rpc_reply(conn), "channel.open");
    if (confirms) {
      amqp_confirm_select(conn, 1);
      check(amqp_get_rpc_reply(conn), "confirm.select");
    }
  }
  ~Amqp() {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }
  amqp_connection_state_t conn;
};

// Raw librabbitmq: the same properties and headers per message as the sink, `batch` publishes, then
// their confirms; acknowledged = acked by the broker.
double raw_librabbitmq(const std::string& server, const std::string& exchange, std::int64_t n, std::size_t bytes_,
                       std::int64_t batch) {
  Amqp a(server, true);
  const std::string pad = bench::payload_text(bytes_);
  const std::string id = "01930000-0000-7000-8000-000000000000", type = "order_created", outbox = "bench",
                    created = "2026-11-29T00:00:00.000000Z", json = "application/json";
  std::int64_t acked = 0;
  std::uint64_t tag = 0;
  const auto start = bench::mono_ns();
  for (std::int64_t from = 1; from <= n; from += batch) {
    const std::int64_t to = std::min(n, from + batch - 1);
    for (std::int64_t i = from; i <= to; ++i) {
      const std::string data = nlohmann::json{{"ordernr", i}, {"pad", pad}}.dump();
      const std::string key = "order-" + std::to_string(i % 64);
      const std::string pos = std::to_string(i);
      const std::pair<const char*, const std::string*> fields[] = {
          {"id", &id}, {"type", &type}, {"outbox", &outbox}, {"created", &created}, {"position", &pos}, {"key", &key}};
      amqp_table_entry_t entries[6];
      for (int f = 0; f < 6; ++f) {
        entries[f].key = amqp_cstring_bytes(fields[f].first);
        entries[f].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[f].value.value.bytes = bytes(*fields[f].second);
      }
      amqp_basic_properties_t props{};
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                     AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG;
      props.content_type = bytes(json);
      props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
      props.message_id = bytes(id);
      props.type = bytes(type);
      props.timestamp = 1796000000;
      props.headers = amqp_table_t{6, entries};
      if (amqp_basic_publish(a.conn, 1, bytes(exchange), bytes(type), 1, 0, &props, bytes(data)) != AMQP_STATUS_OK)
        throw std::runtime_error("raw: publish failed");
      ++tag;
    }
    std::uint64_t confirmed = static_cast<std::uint64_t>(from - 1);
    while (confirmed < tag) {
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(a.conn, &frame) != AMQP_STATUS_OK) throw std::runtime_error("raw: connection lost");
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        const std::uint64_t upto = ack->delivery_tag;
        acked += static_cast<std::int64_t>(ack->multiple ? upto - confirmed : 1);
        confirmed = ack->multiple ? upto : confirmed + 1;
      } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        throw std::runtime_error("raw: nacked");
      }
    }
    amqp_maybe_release_buffers(a.conn);
  }
  const double secs = bench::seconds_since(start);
  if (acked != n)
    std::printf("  raw: %lld of %lld acknowledged\n", static_cast<long long>(acked), static_cast<long long>(n));
  return static_cast<double>(n) / secs;
}

}  // namespace

int run(int argc, char** argv) {
  bench::Flags flags(argc, argv,
                     {{"server", ""},
                      {"mode", "throughput"},
                      {"messages", "100000"},
                      {"bytes", "200"},
                      {"batch", "1000"},
                      {"dir", "/tmp"},
                      {"reps", "3"},
                      {"rate", "1000"},
                      {"seconds", "15"},
                      {"postgres", "false"},
                      {"pg-server", ""}},
                     kUsage);
  spdlog::set_level(spdlog::level::warn);
  std::printf("outbox_bench_rabbitmq%s\n", flags.command_line().c_str());
  std::string server = flags.str("server");
  if (server.empty() && std::getenv("RABBITMQ_PORT")) server = std::string("127.0.0.1:") + std::getenv("RABBITMQ_PORT");
  if (server.empty()) {
    std::fprintf(stderr, "give --server HOST:PORT (or run bench/run_rabbitmq.sh, which starts a broker)\n");
    return 2;
  }
  if (flags.integer("reps") < 1 || flags.integer("batch") < 1)
    throw std::runtime_error("--reps and --batch must be at least 1");
  const auto dir = bench::make_run_dir(flags.str("dir"), "outbox-bench-rabbitmq");
  struct RemoveDir {
    std::filesystem::path path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  bench::print_machine(dir);
  const auto bytes_ = static_cast<std::size_t>(flags.integer("bytes"));
  const auto batch = flags.integer("batch");
  const auto n = flags.integer("messages");
  const std::string tag = std::to_string(getpid());
  const bool throughput = flags.str("mode") == "throughput";
  if (!throughput && flags.str("mode") != "latency") throw std::runtime_error("--mode is throughput or latency");
  const bench::RelaySource source(flags.flag("postgres"), flags.str("pg-server"), dir,
                                  throughput ? "bench_rabbitmq" : "bench_rabbitmq_latency");
  const std::string exchange = "bench_" + tag, queue = "bench_q_" + tag;
  Amqp admin(server, false);
  amqp_exchange_declare(admin.conn, 1, bytes(exchange), amqp_cstring_bytes("direct"), 0, 1, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(admin.conn), "exchange.declare");
  amqp_queue_declare(admin.conn, 1, bytes(queue), 0, /*durable=*/1, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(admin.conn), "queue.declare");
  amqp_queue_bind(admin.conn, 1, bytes(queue), bytes(exchange), amqp_cstring_bytes("order_created"), amqp_empty_table);
  check(amqp_get_rpc_reply(admin.conn), "queue.bind");

  auto drop = [&] {
    amqp_queue_delete(admin.conn, 1, bytes(queue), 0, 0);
    amqp_get_rpc_reply(admin.conn);
    amqp_exchange_delete(admin.conn, 1, bytes(exchange), 0);
    amqp_get_rpc_reply(admin.conn);
  };
  const std::string sink_uri = "amqp://guest:guest@" + server + "/?exchange=" + exchange;
  if (!throughput) {
    source.fill(0, bytes_);
    const double rate = flags.num("rate"), seconds = flags.num("seconds");
    bench::SteadyWriter writer(source.uri(), rate, seconds, bytes_);
    bench::measure_latency("commit -> confirmed latency, " + std::string(source.name()) + " source", source.uri(),
                           writer, outbox::open_sink(sink_uri), rate, seconds);
    drop();
    std::printf("load average at the end: %s\n", bench::loadavg().c_str());
    return 0;
  }
  std::printf("filling the %s outbox with %lld messages ...\n", source.name(), static_cast<long long>(n));
  std::fflush(stdout);
  source.fill(n, bytes_);
  std::printf(
      "relay -> RabbitMQ throughput, %lld messages of ~%zu-byte data, %lld per batch (publishes, then confirms), "
      "persistent into a durable queue, broker on this machine\n",
      static_cast<long long>(n), bytes_, static_cast<long long>(batch));
  const int reps = static_cast<int>(flags.integer("reps"));
  std::vector<double> raw, relay;
  for (int r = 0; r < reps; ++r) {
    for (int k = 0; k < 2; ++k) {
      if ((r + k) % 2 == 0) {
        raw.push_back(raw_librabbitmq(server, exchange, n, bytes_, batch));
      } else {
        auto sink = outbox::open_sink(sink_uri);
        relay.push_back(
            bench::relay_all(source.uri(), "bench_" + std::to_string(r), *sink, static_cast<std::size_t>(batch), n));
      }
      amqp_queue_purge(admin.conn, 1, bytes(queue));
      check(amqp_get_rpc_reply(admin.conn), "queue.purge");
    }
    std::printf("  run %d of %d: raw librabbitmq %.0f msg/s, relay %.0f msg/s\n", r + 1, reps, raw.back(),
                relay.back());
    std::fflush(stdout);
  }
  std::printf("  %-40s%10.0f msg/s (median of %d)\n", "raw librabbitmq, publish + confirms:", bench::median(raw), reps);
  std::printf("  %-40s%10.0f msg/s (median of %d)\n", ("relay " + std::string(source.name()) + " -> RabbitMQ:").c_str(),
              bench::median(relay), reps);
  std::printf("  %-40s%10.2f\n", "ratio relay / raw:", bench::median(relay) / bench::median(raw));
  drop();
  std::printf("load average at the end: %s\n", bench::loadavg().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "outbox_bench_rabbitmq: %s\n", e.what());
    return 1;
  }
}

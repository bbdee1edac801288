// The rabbitmq-server the ctest fixture started (scripts/rabbitmq/start.sh: loopback, free ports,
// no plugins), a librabbitmq client to declare exchanges and queues and to read back what the relay
// published, and an SQLite outbox to relay from. Without rabbitmq-server installed every test is
// skipped with the reason.
#pragma once

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "delivery_check.hpp"
#include "outbox/rabbitmq.hpp"
#include "outbox/relay.hpp"
#include "sink_test.hpp"

namespace testing_rabbitmq {

// The broker is installed (Debian puts the real script in /usr/lib/rabbitmq/bin).
inline bool installed() {
  if (access("/usr/lib/rabbitmq/bin/rabbitmq-server", X_OK) == 0) return true;
  return std::system("command -v rabbitmq-server >/dev/null 2>&1") == 0;
}

#define SKIP_WITHOUT_RABBITMQ()                                                             \
  do {                                                                                      \
    if (!testing_rabbitmq::installed())                                                     \
      GTEST_SKIP() << "rabbitmq-server is not installed (apt-get install rabbitmq-server)"; \
  } while (0)

inline std::string state_dir() {
  const char* state = std::getenv("OUTBOX_RABBITMQ_STATE");
  if (state == nullptr) throw std::runtime_error("OUTBOX_RABBITMQ_STATE is not set: run these tests through ctest");
  return state;
}

inline int port() {
  std::ifstream env(state_dir() + "/env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("RABBITMQ_PORT=", 0) == 0) return std::stoi(line.substr(14));
  }
  throw std::runtime_error("no RABBITMQ_PORT in " + state_dir() + "/env: did rabbitmq.server.start pass?");
}

inline std::string endpoint() { return "127.0.0.1:" + std::to_string(port()); }

inline std::string unique(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + "_" + std::to_string(rng() % 1000000000);
}

// What the node logged about its queues and errors since it last started, for a failed restart
// test: why a durable queue was not routed to after a restart is only in the broker's log.
inline void print_broker_recovery_log() {
  std::string node;
  std::ifstream env(state_dir() + "/env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("RABBITMQ_NODE=", 0) == 0) node = line.substr(14);
  }
  std::ifstream log(state_dir() + "/log/" + node + ".log");
  std::vector<std::string> since_start;
  for (std::string line; std::getline(log, line);) {
    if (line.find("Starting RabbitMQ") != std::string::npos) since_start.clear();
    const bool wanted = line.find("ueue") != std::string::npos || line.find("error") != std::string::npos ||
                        line.find("crash") != std::string::npos || line.find("listener") != std::string::npos;
    if (wanted && since_start.size() < 60) since_start.push_back(line);
  }
  std::printf("the broker's log since its restart (queues, errors, listeners; %s/log):\n", state_dir().c_str());
  for (const auto& line : since_start) std::printf("  %s\n", line.substr(0, 400).c_str());
}

// scripts/rabbitmq/{stop,start}.sh on the fixture's server.
inline void run_script(const std::string& args) {
  const std::string cmd = std::string(OUTBOX_RABBITMQ_SCRIPTS) + "/" + args + " --state " + state_dir() + " >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

inline std::string str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }
inline amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

// One message as a consumer sees it.
struct Received {
  std::string message_id, type, content_type, body;
  std::uint64_t timestamp = 0;
  int delivery_mode = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in table order
  std::map<std::string, std::string> header;                 // name -> last value
  std::int64_t position() const { return std::stoll(header.at("position")); }
};

class Client {
 public:
  Client() {
    conn_ = amqp_new_connection();
    amqp_socket_t* s = amqp_tcp_socket_new(conn_);
    if (amqp_socket_open(s, "127.0.0.1", port()) != AMQP_STATUS_OK)
      throw std::runtime_error("cannot connect to the test rabbitmq-server");
    check(amqp_login(conn_, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn_, 1);
    check(amqp_get_rpc_reply(conn_), "channel.open");
  }
  ~Client() {
    amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void declare_exchange(const std::string& name, const std::string& type = "direct") {
    amqp_exchange_declare(conn_, 1, bytes(name), bytes(type), 0, /*durable=*/1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn_), "exchange.declare " + name);
  }
  // A durable queue (survives a broker restart with the persistent messages in it), bound to
  // `exchange` with each of `keys`. `args`: x-max-length and the like.
  void declare_queue(const std::string& name, const std::string& exchange = "", std::vector<std::string> keys = {},
                     amqp_table_t args = amqp_empty_table) {
    amqp_queue_declare(conn_, 1, bytes(name), 0, /*durable=*/1, 0, 0, args);
    check(amqp_get_rpc_reply(conn_), "queue.declare " + name);
    for (const auto& k : keys) {
      amqp_queue_bind(conn_, 1, bytes(name), bytes(exchange), bytes(k), amqp_empty_table);
      check(amqp_get_rpc_reply(conn_), "queue.bind " + name);
    }
  }
  std::size_t count(const std::string& queue) {
    auto* ok = amqp_queue_declare(conn_, 1, bytes(queue), /*passive=*/1, 1, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn_), "queue.declare passive " + queue);
    return ok->message_count;
  }

  // Everything in `queue`, in queue order, consumed (auto-ack): stops after `idle` without a message
  // once at least `at_least` came.
  std::vector<Received> drain(const std::string& queue, std::size_t at_least = 0,
                              std::chrono::milliseconds idle = std::chrono::milliseconds(1000)) {
    amqp_basic_qos(conn_, 1, 0, 1000, 0);
    check(amqp_get_rpc_reply(conn_), "basic.qos");
    auto* ok = amqp_basic_consume(conn_, 1, bytes(queue), amqp_empty_bytes, 0, /*no_ack=*/1, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn_), "basic.consume " + queue);
    const std::string tag = str(ok->consumer_tag);
    std::vector<Received> out;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (;;) {
      amqp_maybe_release_buffers(conn_);
      amqp_envelope_t envelope;
      timeval tv = {static_cast<time_t>(idle.count() / 1000), static_cast<suseconds_t>((idle.count() % 1000) * 1000)};
      const auto r = amqp_consume_message(conn_, &envelope, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
        if (out.size() >= at_least || std::chrono::steady_clock::now() > give_up) break;
        continue;
      }
      check(r, "consume " + queue);
      out.push_back(convert(envelope.message));
      amqp_destroy_envelope(&envelope);
    }
    amqp_basic_cancel(conn_, 1, bytes(tag));
    check(amqp_get_rpc_reply(conn_), "basic.cancel");
    return out;
  }

 private:
  static Received convert(const amqp_message_t& m) {
    Received r;
    const auto& p = m.properties;
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) r.message_id = str(p.message_id);
    if (p._flags & AMQP_BASIC_TYPE_FLAG) r.type = str(p.type);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) r.content_type = str(p.content_type);
    if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) r.timestamp = p.timestamp;
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) r.delivery_mode = p.delivery_mode;
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const auto& e = p.headers.entries[i];
        std::string v = e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES
                            ? str(e.value.value.bytes)
                            : "(kind " + std::to_string(e.value.kind) + ")";
        r.header[str(e.key)] = v;
        r.headers.emplace_back(str(e.key), std::move(v));
      }
    }
    r.body = str(m.body);
    return r;
  }
  static void check(const amqp_rpc_reply_t& r, const std::string& what) {
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
    std::string why = r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error) : "";
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      why = str(static_cast<const amqp_channel_close_t*>(r.reply.decoded)->reply_text);
    }
    throw std::runtime_error("rabbitmq test client: " + what + " failed: " + why);
  }
  amqp_connection_state_t conn_ = nullptr;
};

using testing_support::Check;

// What a consumer that drops duplicates by id sees (tests/support/delivery_check.hpp).
inline Check check(const std::vector<Received>& messages, std::int64_t expected) {
  std::vector<testing_support::Delivered> delivered;
  for (const auto& m : messages)
    delivered.push_back({m.message_id, m.position(), m.header.count("key") ? m.header.at("key") : std::string()});
  return testing_support::check_delivery(delivered, expected);
}

class RabbitmqTest : public testing_sqlite::SinkTest {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_RABBITMQ();
    testing_sqlite::SqliteTest::SetUp();
    client.emplace();
    exchange = unique("ex");
    client->declare_exchange(exchange);
  }
  void TearDown() override {
    client.reset();
    if (!dir.empty()) testing_sqlite::SqliteTest::TearDown();  // not when SetUp skipped
  }

  // A durable queue bound to this test's exchange for the given routing keys.
  std::string bound_queue(std::vector<std::string> keys = {"order_created"}) {
    const std::string queue = unique("q");
    client->declare_queue(queue, exchange, std::move(keys));
    return queue;
  }

  std::string sink_uri(const std::string& query = "") const {
    return "amqp://guest:guest@" + endpoint() + "/?exchange=" + exchange + query;
  }

  std::optional<Client> client;
  std::string exchange;
};

}  // namespace testing_rabbitmq

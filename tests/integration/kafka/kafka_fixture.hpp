// The broker the ctest fixture started, a librdkafka consumer to read back what the relay wrote,
// and an SQLite outbox to relay from.
#pragma once

#include <librdkafka/rdkafka.h>

#include <fstream>
#include <map>
#include <random>
#include <set>

#include "outbox/kafka.hpp"
#include "outbox/relay.hpp"
#include "sqlite_fixture.hpp"

namespace testing_kafka {

inline std::string bootstrap() {
  const char* state = std::getenv("OUTBOX_KAFKA_STATE");
  if (state == nullptr) throw std::runtime_error("OUTBOX_KAFKA_STATE is not set: run these tests through ctest");
  std::ifstream env(std::string(state) + "/env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("KAFKA_BOOTSTRAP=", 0) == 0) return line.substr(16);
  }
  throw std::runtime_error(std::string("no KAFKA_BOOTSTRAP in ") + state + "/env: did kafka.broker.start pass?");
}

inline std::string unique_topic(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + "_" + std::to_string(rng() % 1000000000);
}

struct Record {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Reads `topics` from the beginning until `expected` records arrived (then `settle` longer, to
// catch duplicates) or `timeout` passed.
inline std::vector<Record> consume(const std::vector<std::string>& topics, std::size_t expected,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                   std::chrono::milliseconds settle = std::chrono::milliseconds(1000)) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) { rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err); };
  set("bootstrap.servers", bootstrap());
  set("group.id", unique_topic("test-reader"));
  set("auto.offset.reset", "earliest");
  set("enable.auto.commit", "false");
  set("topic.metadata.refresh.interval.ms", "1000");
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* subs = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(subs, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);

  std::vector<Record> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> done_at;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!done_at && out.size() >= expected) done_at = std::chrono::steady_clock::now() + settle;
    if (done_at && std::chrono::steady_clock::now() >= *done_at) break;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (!m->err) {
      Record r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
      r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          r.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// Creates a topic with the given partitions and topic configs (e.g. max.message.bytes).
inline void create_topic(const std::string& topic, int partitions, const std::map<std::string, std::string>& configs) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string failure;
  if (!ev)
    failure = "no answer from the broker";
  else if (rd_kafka_event_error(ev))
    failure = rd_kafka_event_error_string(ev);
  else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(results[i])) failure = rd_kafka_topic_result_error_string(results[i]);
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  if (!failure.empty()) throw std::runtime_error("creating topic " + topic + ": " + failure);
}

class KafkaTest : public testing_sqlite::SqliteTest {
 protected:
  void put_committed(int from, int to, int keys = 5, const char* type = "order_created") {
    testing_sqlite::exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) {
      auto m = testing_sqlite::order_created(i, "order-" + std::to_string(i % keys));
      m.type = type;
      m.headers["traceparent"] = "00-" + std::to_string(i) + "-01";
      orders.put(db, m);
    }
    testing_sqlite::exec(db, "COMMIT");
  }

  outbox::RelayStats relay_all(const std::string& sink_uri, outbox::SinkProperties props = {}, int max_attempts = 5) {
    auto store = outbox::open_store(uri());
    auto sink = outbox::open_sink(sink_uri, props);
    outbox::RelayOptions o;
    o.outbox = "orders";
    o.stop_when_idle = true;
    o.max_attempts = max_attempts;
    o.backoff.initial = std::chrono::milliseconds(10);
    outbox::Relay relay(*store, *sink, o);
    relay.run();
    return relay.stats();
  }
};

}  // namespace testing_kafka

#include "kafka_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "outbox/errors.hpp"

namespace outbox::kafka::detail {

namespace {

// How long opening the sink waits for a fixed topic's metadata (see request_topic_metadata): long
// enough for a first connection to a remote broker (TLS, SASL), short enough not to hold up a start
// while the broker is down.
constexpr int kMetadataTimeoutMs = 2000;

// Errors that will not go away by retrying the same message.
bool permanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

// librdkafka runs delivery-report callbacks inside rd_kafka_poll and rd_kafka_flush, a whole
// produce response (often thousands of messages) per call. While one of those calls runs on this
// thread, its reports collect here and go to the relay in one Sink::report afterwards: one lock
// and one wake-up per response instead of one per message.
thread_local std::vector<Delivery>* collected_reports = nullptr;

void delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<KafkaSink*>(opaque)->delivered(reinterpret_cast<std::intptr_t>(m->_private), m->err,
                                             m->err ? rd_kafka_err2str(m->err) : "");
}

void error_report(rd_kafka_t*, int err, const char* reason, void* opaque) {
  static_cast<KafkaSink*>(opaque)->client_error(err, reason);
}

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw UsageError("Kafka property " + key + ": " + err + " (see librdkafka's CONFIGURATION.md)");
  }
}

// Refuses settings that would let retries lose or reorder messages.
void check_property(const std::string& key, const std::string& value) {
  if (key == "enable.idempotence" && value != "true") {
    throw UsageError("enable.idempotence must stay true: without it, retries can duplicate and reorder messages");
  }
  if ((key == "acks" || key == "request.required.acks") && value != "all" && value != "-1") {
    throw UsageError(key + "=" + value +
                     " is refused: the relay checkpoints only what every in-sync replica has (acks=all)");
  }
  if (key == "max.in.flight.requests.per.connection" || key == "max.in.flight") {
    if (std::atoi(value.c_str()) < 1 || std::atoi(value.c_str()) > 5) {
      throw UsageError(key + " must be between 1 and 5 with idempotence, or retries can reorder messages");
    }
  }
  if (key == "bootstrap.servers" || key == "metadata.broker.list") {
    throw UsageError(key + " comes from the sink URI (kafka://HOST:PORT/TOPIC); do not set it as a property");
  }
}

// Kafka topic names: [A-Za-z0-9._-], 1 to 249 characters, not "." or "..".
bool legal_topic(const std::string& s) {
  if (s.empty() || s.size() > 249 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

DestinationTemplate topic_template(const std::string& topic) {
  if (topic.empty()) throw UsageError("the Kafka sink needs a topic: kafka://HOST:PORT/TOPIC");
  DestinationTemplate t(topic, "topic");
  // A fixed topic is checked once, here; a template's rendered topics are checked per message.
  if (t.fixed() && !legal_topic(t.text())) {
    throw UsageError("'" + topic +
                     "' is not a legal Kafka topic name: use 1 to 249 of the characters A-Z a-z 0-9 . _ - "
                     "(and not '.' or '..')");
  }
  return t;
}

}  // namespace

KafkaSink::KafkaSink(SinkOptions options)
    : options_(std::move(options)),
      topic_(topic_template(options_.topic)),
      envelope_{options_.cloudevents, options_.cloudevents_source} {
  if (options_.brokers.empty()) throw UsageError("the Kafka sink needs brokers: kafka://HOST:PORT/TOPIC");
  for (const auto& [k, v] : options_.properties) check_property(k, v);
  rk_ = create_producer();
  if (topic_.fixed()) request_topic_metadata();
  poller_ = std::thread([this] { serve(); });
}

KafkaSink::~KafkaSink() {
  stopping_ = true;
  poller_.join();
  // Whatever is still queued fails back to nobody: the relay only checkpoints acknowledged
  // messages, so anything lost here is published again by the next relay.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_destroy(rk_);
}

rd_kafka_t* KafkaSink::create_producer() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", options_.brokers);
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  set(conf, "max.in.flight.requests.per.connection", "5");
  set(conf, "enable.gapless.guarantee", "true");
  set(conf, "linger.ms", std::to_string(kDefaultLingerMs));
  for (const auto& [k, v] : options_.properties) set(conf, k, v);
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
  rd_kafka_conf_set_error_cb(conf, error_report);
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw SinkError(std::string("cannot create a Kafka producer: ") + err, false);
  }
  return rk;
}

// A new producer knows no topic's partitions, and its first message to a topic is queued until
// librdkafka's next topic scan (once a second) fetches them: the relay's first record waited about
// a second. Asking for a fixed topic's metadata now fills librdkafka's metadata cache before the
// first message. Failure is only logged: the sink opens while the broker is down, and producing
// fetches the metadata as usual once it is back.
void KafkaSink::request_topic_metadata() {
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, options_.topic.c_str(), nullptr);
  if (topic == nullptr) {
    spdlog::warn("kafka: topic '{}': {}; its metadata is fetched with the first message", options_.topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, topic, &metadata, kMetadataTimeoutMs);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1) err = metadata->topics[0].err;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug("kafka: metadata of topic '{}' fetched in {} ms", options_.topic, ms);
  } else {
    // UNKNOWN_TOPIC_OR_PART is normal for a topic the broker creates on the first message.
    spdlog::info(
        "kafka: no metadata of topic '{}' after {} ms ({}); the first message fetches it (check the brokers in the "
        "sink URI if messages are not acknowledged)",
        options_.topic, ms, rd_kafka_err2str(err));
  }
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  rd_kafka_topic_destroy(topic);
}

std::string KafkaSink::describe() const { return "kafka://" + options_.brokers + "/" + options_.topic; }

std::string KafkaSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void KafkaSink::delivered(std::int64_t position, int error, const char* reason) {
  const auto err = static_cast<rd_kafka_resp_err_t>(error);
  Delivery d{position, Outcome::ok, {}};
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (!health_ok_.load(std::memory_order_acquire)) {  // the lock only when the health changes
      std::lock_guard lock(health_mutex_);
      health_ = "ok";
      health_ok_.store(true, std::memory_order_release);
    }
  } else {
    // Messages queued behind this one could still be delivered before its retry; the poller purges
    // them (their reports then fail too) so the relay can resend everything in order.
    if (err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) purge_ = true;
    d.outcome = permanent(err) ? Outcome::permanent : Outcome::retryable;
    d.error = std::string("kafka: ") + reason;
  }
  if (collected_reports != nullptr) {
    collected_reports->push_back(std::move(d));
  } else {
    report(d.position, d.outcome, std::move(d.error));
  }
}

template <class F>
void KafkaSink::collecting_reports(F&& serve_callbacks) {
  std::vector<Delivery> reports;
  collected_reports = &reports;
  try {
    serve_callbacks();
  } catch (...) {
    collected_reports = nullptr;
    report(reports);
    throw;
  }
  collected_reports = nullptr;
  report(reports);
}

void KafkaSink::client_error(int error, const char* reason) {
  const auto err = static_cast<rd_kafka_resp_err_t>(error);
  if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
  std::lock_guard lock(health_mutex_);
  health_ = std::string("kafka: ") + rd_kafka_err2name(err) + ": " + reason;
  health_ok_.store(false, std::memory_order_release);
  spdlog::warn("{}", health_);
}

void KafkaSink::produce(rd_kafka_t* rk, const Message& m) {
  // Per message, only what cannot be borrowed from `m` or the sink is built: a rendered topic
  // (templates only) and the data's text (messages not read by a tail); the created time's text
  // is written on the stack (visit_envelope_headers).
  std::string rendered;
  const std::string& topic = topic_.fixed() ? topic_.text() : (rendered = topic_.render(m));
  if (!topic_.fixed() && !legal_topic(topic)) {
    report(m.position, Outcome::permanent,
           "topic template '" + options_.topic + "' gives an illegal topic name for type '" + m.type + "'");
    return;
  }
  std::string serialized;
  const std::string& value = m.data_json.empty() ? (serialized = serialized_data(m)) : m.data_json;
  // The envelope as headers (CloudEvents Kafka binding, binary mode, when asked).
  rd_kafka_headers_t* headers = rd_kafka_headers_new(6 + m.headers.size());
  visit_envelope_headers(m, envelope_, "ce_", [headers](std::string_view name, std::string_view text) {
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                        static_cast<ssize_t>(text.size()));
  });

  // The librdkafka macros cast their arguments without parentheses: pass plain variables.
  const void* key = m.key ? m.key->data() : nullptr;
  const std::size_t key_size = m.key ? m.key->size() : 0;
  void* value_ptr = const_cast<char*>(value.data());
  const std::size_t value_size = value.size();
  const std::int64_t timestamp_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(m.created.time_since_epoch()).count();
  // The position rides in the message's opaque pointer to its delivery report: no allocation.
  void* opaque = reinterpret_cast<void*>(static_cast<std::intptr_t>(m.position));  // NOLINT(performance-no-int-to-ptr)
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_VALUE(value_ptr, value_size),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // headers now belong to librdkafka
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      collecting_reports([rk] { rd_kafka_poll(rk, 10); });  // let delivery reports drain the queue
      continue;
    }
    rd_kafka_headers_destroy(headers);
    report(m.position, permanent(err) ? Outcome::permanent : Outcome::retryable,
           std::string("kafka: ") + rd_kafka_err2str(err));
    return;
  }
}

void KafkaSink::do_publish(std::span<const Message> batch) {
  std::lock_guard lock(producer_mutex_);
  for (const auto& m : batch) produce(rk_, m);
}

void KafkaSink::do_flush(std::chrono::milliseconds timeout) {
  std::lock_guard lock(producer_mutex_);
  collecting_reports([this, timeout] { rd_kafka_flush(rk_, static_cast<int>(timeout.count())); });
}

void KafkaSink::serve() {
  while (!stopping_) {
    rd_kafka_t* rk;
    {
      std::lock_guard lock(producer_mutex_);
      rk = rk_;
    }
    collecting_reports([rk] { rd_kafka_poll(rk, 100); });
    if (fatal_) {
      replace_producer();
    } else if (purge_.exchange(false)) {
      std::lock_guard lock(producer_mutex_);
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
  }
}

void KafkaSink::replace_producer() {
  std::lock_guard lock(producer_mutex_);
  char reason[512] = "";
  rd_kafka_fatal_error(rk_, reason, sizeof reason);
  spdlog::error(
      "kafka producer failed fatally ({}); failing its in-flight messages for retry and starting a new "
      "producer",
      reason);
  // Purged messages get delivery reports with a purge error: retryable, so the relay republishes
  // them in order on the new producer.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  collecting_reports([this] {
    for (int i = 0; i < 50 && rd_kafka_outq_len(rk_) > 0; ++i) rd_kafka_poll(rk_, 100);
  });
  rd_kafka_destroy(rk_);
  rk_ = create_producer();
  fatal_ = false;
}

}  // namespace outbox::kafka::detail

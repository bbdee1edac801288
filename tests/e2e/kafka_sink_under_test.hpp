// The Kafka sink in the end-to-end matrix, against the broker of the ctest fixture `kafka`: a fresh
// topic of 3 partitions per cell; each relay process lingers a random 200 to 1000 ms before sending
// (-X linger.ms), so acknowledgements arrive late and in bursts, long after the relay read further.
// Read back afterwards by a real consumer (librdkafka, tests/integration/kafka/kafka_fixture.hpp),
// partition by partition: within a partition records are in the broker's order, and all of a key's
// messages are in one partition, so each key's order is checked; no order holds across partitions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kafka_fixture.hpp"
#include "sink_under_test.hpp"

#ifndef OUTBOX_KAFKA_SCRIPTS
#error "OUTBOX_KAFKA_SCRIPTS must name scripts/kafka"
#endif

namespace outbox::e2e {

class KafkaSinkUnderTest : public SinkUnderTest {
 public:
  std::string name() const override { return "kafka"; }

  void prepare(const std::filesystem::path&) override {
    topic_ = testing_kafka::unique_topic("e2e");
    testing_kafka::create_topic(topic_, 3, {});
  }

  std::vector<std::string> relay_args(int, std::mt19937_64& rng) override {
    const auto linger = std::uniform_int_distribution<int>(200, 1000)(rng);
    return {"--sink", "kafka://" + testing_kafka::bootstrap() + "/" + topic_, "-X",
            "linger.ms=" + std::to_string(linger)};
  }

  // scripts/kafka/restart.sh --kill: the same broker (port, data) crashed with SIGKILL and started
  // again. A crash rather than a clean stop: harsher for the producer, and a clean stop of the JVM
  // broker takes tens of seconds on a loaded machine, which the cell would wait for. Down for 1 s:
  // stop.sh --kill returns when the process no longer looks like the broker, and the dying JVM can
  // still hold its ports for a moment (start.sh then refused: "port ... is taken").
  std::vector<std::string> restart_command() const override {
    const char* state = std::getenv("OUTBOX_KAFKA_STATE");
    return {std::string(OUTBOX_KAFKA_SCRIPTS) + "/restart.sh", "--state", state ? state : "", "--kill", "--down", "1"};
  }

  Delivered delivered(std::int64_t expected) override {
    auto records = testing_kafka::consume({topic_}, static_cast<std::size_t>(expected), read_back_limit(expected),
                                          std::chrono::seconds(2));
    std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
    });
    Delivered d;
    for (const auto& r : records) {
      nlohmann::json line = {{"topic", r.topic}, {"partition", r.partition}, {"offset", r.offset}};
      if (r.key) line["key"] = *r.key;
      if (auto it = r.headers.find("id"); it != r.headers.end()) line["id"] = it->second;
      if (auto it = r.headers.find("position"); it != r.headers.end()) {
        line["position"] = std::strtoll(it->second.c_str(), nullptr, 10);
      }
      line["data"] = nlohmann::json::parse(r.value, nullptr, false);
      d.lines += line.dump() + "\n";
    }
    return d;
  }

  crash::VerifyOptions verify_options(crash::VerifyOptions store) const override {
    store.one_delivery_sequence = false;  // partitions one after the other
    return store;
  }

 private:
  std::string topic_;
};

}  // namespace outbox::e2e

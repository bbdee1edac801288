// The RabbitMQ sink in the end-to-end matrix, against the broker of the ctest fixture `rabbitmq`: a
// fresh direct exchange and a durable queue bound to every message type of the crash writers (the
// routing key is the default {type}); publishes are persistent and confirmed. The broker is crashed
// (SIGKILL) and restarted on the same node database once mid-run. Read back afterwards by consuming
// the queue: one queue is one sequence, but the relay lives cannot be told apart in it, and a batch
// failed by the crash is resent (duplicates), so only each key's order and completeness are judged,
// as for Kafka and Redis.
#pragma once

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rabbitmq_fixture.hpp"
#include "sink_under_test.hpp"

#ifndef OUTBOX_RABBITMQ_SCRIPTS
#error "OUTBOX_RABBITMQ_SCRIPTS must name scripts/rabbitmq"
#endif

namespace outbox::e2e {

class RabbitmqSinkUnderTest : public SinkUnderTest {
 public:
  std::string name() const override { return "rabbitmq"; }

  void prepare(const std::filesystem::path&) override {
    exchange_ = testing_rabbitmq::unique("e2e");
    queue_ = testing_rabbitmq::unique("e2e_q");
    testing_rabbitmq::Client client;
    client.declare_exchange(exchange_, "fanout");  // every type of the crash writers lands in the one queue
    client.declare_queue(queue_, exchange_, {""});
  }

  std::vector<std::string> relay_args(int, std::mt19937_64&) override {
    return {"--sink", "amqp://guest:guest@" + testing_rabbitmq::endpoint() + "/?exchange=" + exchange_};
  }

  std::vector<std::string> restart_command() const override {
    const char* state = std::getenv("OUTBOX_RABBITMQ_STATE");
    return {
        std::string(OUTBOX_RABBITMQ_SCRIPTS) + "/restart.sh", "--state", state ? state : "", "--kill", "--down", "1"};
  }

  Delivered delivered(std::int64_t expected) override {
    testing_rabbitmq::Client client;
    Delivered d;
    for (const auto& m : client.drain(queue_, static_cast<std::size_t>(expected), std::chrono::milliseconds(2000))) {
      nlohmann::json line = {{"id", m.message_id}};
      if (auto it = m.header.find("key"); it != m.header.end()) line["key"] = it->second;
      if (auto it = m.header.find("position"); it != m.header.end()) {
        line["position"] = std::strtoll(it->second.c_str(), nullptr, 10);
      }
      line["data"] = nlohmann::json::parse(m.body, nullptr, false);
      d.lines += line.dump() + "\n";
    }
    return d;
  }

  crash::VerifyOptions verify_options(crash::VerifyOptions store) const override {
    store.one_delivery_sequence = false;  // relay lives are not marked in the queue
    return store;
  }

 private:
  std::string exchange_, queue_;
};

}  // namespace outbox::e2e

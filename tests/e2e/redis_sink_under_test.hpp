// The Redis Streams sink in the end-to-end matrix, against the server of the ctest fixture `redis`
// (AOF, appendfsync always): a fresh stream per cell (the harness gives each relay a random batch
// size, so one MULTI/EXEC round trip carries 1 to 1000 messages). The server is crashed
// (SIGKILL) and restarted from its AOF once mid-run. Read back afterwards with XRANGE: one stream is
// one sequence, but the relay lives cannot be told apart in it, and a batch failed by the crash is
// resent whole (duplicates), so only each key's order and completeness are judged, as for Kafka.
#pragma once

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "redis_fixture.hpp"
#include "sink_under_test.hpp"

#ifndef OUTBOX_REDIS_SCRIPTS
#error "OUTBOX_REDIS_SCRIPTS must name scripts/redis"
#endif

namespace outbox::e2e {

class RedisSinkUnderTest : public SinkUnderTest {
 public:
  std::string name() const override { return "redis"; }

  void prepare(const std::filesystem::path&) override { stream_ = testing_redis::unique_stream("e2e"); }

  std::vector<std::string> relay_args(int, std::mt19937_64&) override {
    return {"--sink", "redis://" + testing_redis::endpoint() + "/" + stream_};
  }

  std::vector<std::string> restart_command() const override {
    const char* state = std::getenv("OUTBOX_REDIS_STATE");
    return {std::string(OUTBOX_REDIS_SCRIPTS) + "/restart.sh", "--state", state ? state : "", "--kill", "--down", "1"};
  }

  Delivered delivered(std::int64_t) override {
    testing_redis::Client redis;
    Delivered d;
    for (const auto& e : redis.read(stream_)) {
      nlohmann::json line = {{"stream_id", e.id}};
      if (auto it = e.last.find("key"); it != e.last.end()) line["key"] = it->second;
      if (auto it = e.last.find("id"); it != e.last.end()) line["id"] = it->second;
      if (auto it = e.last.find("position"); it != e.last.end()) {
        line["position"] = std::strtoll(it->second.c_str(), nullptr, 10);
      }
      if (auto it = e.last.find("data"); it != e.last.end())
        line["data"] = nlohmann::json::parse(it->second, nullptr, false);
      d.lines += line.dump() + "\n";
    }
    return d;
  }

  crash::VerifyOptions verify_options(crash::VerifyOptions store) const override {
    store.one_delivery_sequence = false;  // relay lives are not marked in the stream
    return store;
  }

 private:
  std::string stream_;
};

}  // namespace outbox::e2e

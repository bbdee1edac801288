// The NATS JetStream sink in the end-to-end matrix: a nats-server of the cell's own (scripts/nats/,
// loopback, a free port, its JetStream store in the work folder) with one stream on the cell's
// subject; each relay process gets a random max_pending (64 to 4096), so PubAcks arrive while the
// relay reads further. Restarted once mid-run with SIGKILL on the same store folder. Read back by
// an ordered JetStream consumer (tests/integration/nats/nats_reader.hpp): one stream is one
// sequence, so the whole output is one delivery sequence in the broker's order.
#pragma once

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nats_reader.hpp"
#include "sink_under_test.hpp"

#ifndef OUTBOX_NATS_SCRIPTS
#error "OUTBOX_NATS_SCRIPTS must name scripts/nats"
#endif

namespace outbox::e2e {

class NatsSinkUnderTest : public SinkUnderTest {
 public:
  ~NatsSinkUnderTest() override {
    if (!server_dir_.empty()) std::system((std::string(OUTBOX_NATS_SCRIPTS) + "/stop.sh --dir " + server_dir_).c_str());
  }

  std::string name() const override { return "nats"; }

  void prepare(const std::filesystem::path& dir) override {
    server_dir_ = (dir / "nats-server").string();
    if (std::system((std::string(OUTBOX_NATS_SCRIPTS) + "/start.sh --dir " + server_dir_ + " >/dev/null").c_str()) !=
        0) {
      throw std::runtime_error("scripts/nats/start.sh failed; see " + server_dir_ + "/server.log");
    }
    std::ifstream port(server_dir_ + "/port");
    std::string p;
    port >> p;
    address_ = "127.0.0.1:" + p;
    subject_ = testing_nats::unique("e2e.");
    testing_nats::Client("nats://" + address_).add_stream("E2E", {subject_});
  }

  std::vector<std::string> relay_args(int, std::mt19937_64& rng) override {
    const auto pending = std::uniform_int_distribution<int>(64, 4096)(rng);
    return {"--sink", "nats://" + address_ + "/" + subject_ + "?max_pending=" + std::to_string(pending)};
  }

  // A crash (SIGKILL) and down for 1 s, on the same port and store folder.
  std::vector<std::string> restart_command() const override {
    return {std::string(OUTBOX_NATS_SCRIPTS) + "/restart.sh", "--dir", server_dir_, "--kill", "--down", "1"};
  }

  Delivered delivered(std::int64_t expected) override {
    const auto records = testing_nats::Client("nats://" + address_)
                             .read("E2E", subject_, static_cast<std::size_t>(expected), read_back_limit(expected),
                                   std::chrono::seconds(2));
    Delivered d;
    for (const auto& r : records) {
      nlohmann::json line = {{"subject", r.subject}, {"sequence", r.sequence}};
      if (auto it = r.headers.find("Outbox-Key"); it != r.headers.end()) line["key"] = it->second;
      if (auto it = r.headers.find("id"); it != r.headers.end()) line["id"] = it->second;
      if (auto it = r.headers.find("position"); it != r.headers.end()) {
        line["position"] = std::strtoll(it->second.c_str(), nullptr, 10);
      }
      line["data"] = nlohmann::json::parse(r.data, nullptr, false);
      d.lines += line.dump() + "\n";
    }
    return d;
  }

 private:
  std::string server_dir_, address_, subject_;
};

}  // namespace outbox::e2e

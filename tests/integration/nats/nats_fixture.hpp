// A real nats-server with JetStream per test, on a free loopback port with a store folder of its
// own (killed and restarted on the same folder by the fault tests), and an SQLite outbox to relay
// from. What the relay published is read back with nats_reader.hpp.
#pragma once

#include <signal.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "nats_reader.hpp"
#include "outbox/nats.hpp"
#include "outbox/relay.hpp"
#include "relay_process.hpp"
#include "sink_test.hpp"

namespace testing_nats {

using namespace std::chrono_literals;

class NatsServer {
 public:
  NatsServer() : port_(testing_cli::free_port()) {
    char tmpl[] = "/tmp/outbox-nats-XXXXXX";
    dir_ = mkdtemp(tmpl);
    start();
  }
  ~NatsServer() {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts on the same port and store folder (JetStream recovers its streams from it).
  void start() {
    const std::string log = dir_ + "/server.log";
    std::filesystem::remove(log);
    server_ =
        std::make_unique<testing_cli::Process>(std::vector<std::string>{NATS_SERVER, "-js", "-a", "127.0.0.1", "-p",
                                                                        std::to_string(port_), "-sd", dir_ + "/store"},
                                               log);
    if (!server_->wait_for_log("Server is ready", 30s)) {
      throw std::runtime_error("nats-server did not start:\n" + server_->log());
    }
  }
  // SIGKILL: no shutdown, what was written to the store files stays (a crash, not a power loss).
  void kill() {
    server_->signal(SIGKILL);
    server_->wait(10s);
    server_.reset();
  }

  // SIGSTOP: the server stops reading; what clients send meanwhile stays in its socket buffers and
  // is lost if it is then killed.
  void freeze() { server_->signal(SIGSTOP); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "nats://" + address(); }

 private:
  int port_;
  std::string dir_;
  std::unique_ptr<testing_cli::Process> server_;
};

class NatsTest : public testing_sqlite::SinkTest {
 protected:
  NatsServer server;
};

}  // namespace testing_nats

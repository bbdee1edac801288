// Serves GET /metrics (Prometheus text format) from a thread of its own while the relay runs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace outbox::cli {

class MetricsServer {
 public:
  // `address` is HOST:PORT; throws UsageError if it is malformed or cannot be bound.
  MetricsServer(const std::string& address, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace outbox::cli

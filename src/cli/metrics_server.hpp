// Serves GET /metrics (Prometheus text format) from threads of its own while the relay runs.
// Stopping is bounded: a render in progress is waited for (it reads the store and the relay, which
// must outlive it), later scrapes are answered 503, and a client that is slow to send its request
// or to read the answer is given at most kStopBound before the server is abandoned to the ending
// process (cpp-httplib would otherwise join its workers for as long as such a client trickles).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "host_port.hpp"

namespace httplib {
class Server;
}

namespace outbox::cli {

struct MetricsRenderer;
struct MetricsWorkers;

class MetricsServer {
 public:
  static constexpr std::chrono::milliseconds kStopBound{1000};
  // Each read or write to a client waits at most this long.
  static constexpr std::chrono::seconds kClientTimeout{2};

  // Throws UsageError if `address` cannot be listened on.
  MetricsServer(const HostPort& address, std::function<std::string()> render);
  // Stops (see above). After it returns, `render` is never called again.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  std::shared_ptr<MetricsRenderer> renderer_;
  std::shared_ptr<MetricsWorkers> workers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace outbox::cli

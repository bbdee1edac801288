// Serves GET /metrics (Prometheus text format) and the health probes (/healthz, /readyz) from
// threads of its own while the relay runs; other paths get 404. Stopping is bounded: an answer in
// progress is waited for (it reads the store and the relay, which must outlive it), later requests
// are answered 503, and a client that is slow to send its request
// or to read the answer is given at most kStopBound before the server is abandoned to the ending
// process (cpp-httplib would otherwise join its workers for as long as such a client trickles).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host_port.hpp"

namespace httplib {
class Server;
}

namespace outbox::cli {

struct MetricsRoute;
struct MetricsWorkers;

struct HttpAnswer {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

// Path (e.g. "/metrics") -> its answer. Each path is answered one request at a time, apart from the
// others: a health probe never waits behind a slow metrics render.
using Routes = std::map<std::string, std::function<HttpAnswer()>>;

class MetricsServer {
 public:
  static constexpr std::chrono::milliseconds kStopBound{1000};
  // Each read or write to a client waits at most this long.
  static constexpr std::chrono::seconds kClientTimeout{2};

  // Throws UsageError if `address` cannot be listened on.
  MetricsServer(const HostPort& address, const Routes& routes);
  // Stops (see above). After it returns, no route's function is called again.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  std::vector<std::shared_ptr<MetricsRoute>> routes_;
  std::shared_ptr<MetricsWorkers> workers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace outbox::cli

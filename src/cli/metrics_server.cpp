#include "metrics_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "outbox/errors.hpp"

namespace outbox::cli {

MetricsServer::MetricsServer(const std::string& address, std::function<std::string()> render)
    : server_(std::make_unique<httplib::Server>()) {
  const auto colon = address.rfind(':');
  int port = 0;
  try {
    port = colon == std::string::npos ? -1 : std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535) {
    throw UsageError("--metrics takes HOST:PORT, e.g. 127.0.0.1:9464, not '" + address + "'");
  }
  const std::string host = address.substr(0, colon);
  server_->Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(render(), "text/plain; version=0.0.4");
    } catch (const std::exception& e) {
      res.status = 503;
      res.set_content(std::string("metrics unavailable: ") + e.what() + "\n", "text/plain");
    }
  });
  if (!server_->bind_to_port(host.c_str(), port)) {
    throw UsageError("cannot listen on " + address + " for --metrics: the port is taken or the address is not local");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  spdlog::info("metrics at http://{}/metrics", address);
}

MetricsServer::~MetricsServer() {
  server_->stop();
  thread_.join();
}

}  // namespace outbox::cli

#include "metrics_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "outbox/errors.hpp"

namespace outbox::cli {

// Calls `answer` for a path's requests until closed; close() waits for an answer in progress.
// Shared with the request handler, which may outlive the MetricsServer (see MetricsWorkers).
struct MetricsRoute {
  std::mutex mutex;  // also serializes the path's requests: a metrics render reads the store
  bool closed = false;
  std::function<HttpAnswer()> answer;

  void close() {
    std::lock_guard lock(mutex);
    closed = true;
    answer = nullptr;
  }
};

// cpp-httplib's task queue, with a shutdown that waits a bounded time. Its threads are detached and
// share this state, so a worker stuck on a slow client may outlive the server object's owner: the
// server is then deliberately leaked (see ~MetricsServer), and the process ends around it.
struct MetricsWorkers {
  static constexpr std::size_t kThreads = 4;

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::function<void()>> jobs;
  bool shutting_down = false;
  std::size_t running = 0;  // worker threads not yet ended

  static void start(const std::shared_ptr<MetricsWorkers>& self) {
    for (std::size_t i = 0; i < kThreads; ++i) {
      {
        std::lock_guard lock(self->mutex);
        ++self->running;
      }
      std::thread([self] { self->work(); }).detach();
    }
  }

  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return !jobs.empty() || shutting_down; });
        if (jobs.empty()) break;  // shutting down with nothing left
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job();
    }
    std::lock_guard lock(mutex);
    --running;
    changed.notify_all();
  }

  // True if every worker ended within `bound`.
  bool shut_down(std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex);
    shutting_down = true;
    changed.notify_all();
    return changed.wait_for(lock, bound, [&] { return running == 0; });
  }

  bool all_ended() {
    std::lock_guard lock(mutex);
    return running == 0;
  }
};

namespace {

// A server left to the ending process (see ~MetricsServer). Held here so that it stays reachable:
// leak checkers (LeakSanitizer) then do not report it, and nothing ever frees it under a worker.
httplib::Server* abandoned_server = nullptr;

class BoundedQueue final : public httplib::TaskQueue {
 public:
  explicit BoundedQueue(std::shared_ptr<MetricsWorkers> workers) : workers_(std::move(workers)) {}
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(workers_->mutex);
      workers_->jobs.push_back(std::move(fn));
    }
    workers_->changed.notify_all();
  }
  void shutdown() override { workers_->shut_down(MetricsServer::kStopBound); }

 private:
  std::shared_ptr<MetricsWorkers> workers_;
};

}  // namespace

MetricsServer::MetricsServer(const HostPort& address, const Routes& routes)
    : workers_(std::make_shared<MetricsWorkers>()), server_(std::make_unique<httplib::Server>()) {
  const std::string shown = address.host.find(':') == std::string::npos
                                ? address.host + ":" + std::to_string(address.port)
                                : "[" + address.host + "]:" + std::to_string(address.port);
  std::string paths;
  for (const auto& [path, answer] : routes) {
    auto route = std::make_shared<MetricsRoute>();
    route->answer = answer;
    routes_.push_back(route);
    paths += (paths.empty() ? "" : ", ") + path;
    server_->Get(path, [route, name = path.substr(1)](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(route->mutex);
      if (route->closed) {
        res.status = 503;
        res.set_content("the relay is stopping\n", "text/plain");
        return;
      }
      try {
        auto a = route->answer();
        res.status = a.status;
        res.set_content(a.body, a.content_type);
      } catch (const std::exception& e) {
        res.status = 503;
        res.set_content(name + " unavailable: " + e.what() + "\n", "text/plain");
      }
    });
  }
  server_->set_error_handler([paths](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("not found: this server answers " + paths + "\n", "text/plain");
  });
  // A client gets this long per read and write, and per idle keep-alive connection.
  const auto timeout = std::chrono::duration_cast<std::chrono::seconds>(kClientTimeout).count();
  server_->set_read_timeout(timeout, 0);
  server_->set_write_timeout(timeout, 0);
  server_->set_keep_alive_timeout(timeout);
  server_->new_task_queue = [workers = workers_] {
    MetricsWorkers::start(workers);
    return new BoundedQueue(workers);
  };
  if (!server_->bind_to_port(address.host.c_str(), address.port)) {
    throw UsageError("cannot listen on " + shown +
                     " for metrics: the port is taken or the address is not one of this machine's; choose "
                     "another port or address");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() does nothing until listening has begun, and a SIGTERM may come at once: wait for it.
  for (int i = 0; i < 1000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("metrics and health checks at http://{} ({})", shown, paths);
}

MetricsServer::~MetricsServer() {
  for (const auto& route : routes_) route->close();  // waits for an answer in progress; later ones get 503
  server_->stop();  // closes the listening socket; listen returns once workers end or kStopBound passed
  thread_.join();
  if (!workers_->all_ended()) {
    // A worker is still busy with a slow client and uses the server object: leave both to the
    // ending process rather than wait for that client.
    spdlog::debug("metrics: not waiting for a slow client any longer");
    abandoned_server = server_.release();
  }
}

}  // namespace outbox::cli

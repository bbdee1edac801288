#include "relay_group.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "outbox/errors.hpp"
#include "outbox/outbox.hpp"
#include "outbox/scheme.hpp"

namespace outbox::cli {

namespace {

RelayOptions relay_options(const RelaySettings& s, bool drain) {
  RelayOptions ro;
  ro.outbox = s.outbox;
  ro.consumer = s.consumer;
  ro.batch_size = static_cast<std::size_t>(s.batch_size);
  ro.max_in_flight = static_cast<std::size_t>(s.max_in_flight);
  ro.max_attempts = static_cast<int>(s.max_attempts);
  ro.shutdown_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(s.shutdown_timeout * 1000));
  ro.stop_when_idle = drain;
  ro.lease_ttl = std::chrono::seconds(s.lease_ttl);
  ro.checkpoint_interval = std::chrono::milliseconds(s.checkpoint_interval_ms);
  ro.wait_for_lease = !s.no_wait;
  if (s.max_count > 0 || s.max_age > 0 || s.hard_max_count > 0) {
    RetentionPolicy p;
    if (s.max_count > 0) p.max_count = s.max_count;
    if (s.max_age > 0) p.max_age = std::chrono::seconds(static_cast<std::int64_t>(s.max_age));
    if (s.hard_max_count > 0) p.hard_max_count = s.hard_max_count;
    ro.retention = p;
    ro.retention_interval = std::chrono::seconds(s.retention_interval);
  }
  return ro;
}

void add(RelayStats& total, const RelayStats& more) {
  total.published += more.published;
  total.acknowledged += more.acknowledged;
  total.retries += more.retries;
  total.dead_lettered += more.dead_lettered;
  total.checkpoints += more.checkpoints;
  total.retention_deleted += more.retention_deleted;
  total.retention_dropped += more.retention_dropped;
  if (more.last_position > 0) total.last_position = more.last_position;
}

}  // namespace

// One entry: its settings, and (while it runs) its relay and sink for stop(), metrics and probes.
struct RelayRunner {
  enum class Phase { opening, running, failed, ended };

  RelaySettings settings;
  RelayOptions options;
  std::chrono::milliseconds bound;  // liveness
  std::function<void()> destination_gone_callback;

  mutable std::mutex mutex;
  std::condition_variable wake;  // a backoff ends early on stop()
  bool stopping = false;
  // The sink's destination went away for good. Atomic, not under `mutex`: the sink reports it from
  // inside a publish, possibly holding its own lock, which stop_within() (called under `mutex`)
  // may need.
  std::atomic<bool> gone{false};
  Phase phase = Phase::opening;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();  // of `phase`
  std::chrono::steady_clock::time_point retry_at;
  std::string failure;  // the last error, while failed or ended by one
  Relay* relay = nullptr;
  Sink* sink = nullptr;
  RelayStats carried;  // of earlier runs
  std::thread thread;

  std::string name() const { return settings.outbox + "/" + settings.consumer; }

  void set_phase(Phase p) {
    std::lock_guard lock(mutex);
    phase = p;
    since = std::chrono::steady_clock::now();
  }

  // Opens the store and sink and runs the relay until it ends; errors propagate.
  void run_once() {
    set_phase(Phase::opening);
    StoreOptions so;
    so.wakeups = !settings.poll;
    auto store = open_store(settings.store, so);
    SinkProperties properties(settings.sink_properties.begin(), settings.sink_properties.end());
    auto sink_ptr = open_sink(settings.sink, properties);
    Relay r(*store, *sink_ptr, options);
    sink_ptr->on_closed([this](const std::string&) {
      gone = true;
      destination_gone_callback();
    });
    // Published under the lock, withdrawn (with the run's counters kept) before the relay goes.
    struct Published {
      RelayRunner& self;
      Relay& relay;
      ~Published() {
        std::lock_guard lock(self.mutex);
        add(self.carried, relay.stats());
        self.relay = nullptr;
        self.sink = nullptr;
      }
    };
    {
      std::lock_guard lock(mutex);
      relay = &r;
      sink = sink_ptr.get();
      phase = Phase::running;
      since = std::chrono::steady_clock::now();
      if (stopping) stop_locked();
    }
    Published published{*this, r};
    r.run();
  }

  // Several relays: restarts after failures until stopped (or, with drain, ends on the first).
  // Returns false if it ended by a failure.
  bool run_restarting(bool drain) {
    int attempt = 0;
    for (;;) {
      const auto started = std::chrono::steady_clock::now();
      try {
        run_once();
        set_phase(Phase::ended);
        return true;
      } catch (const std::exception& e) {
        std::unique_lock lock(mutex);
        failure = e.what();
        if (stopping) {
          phase = Phase::ended;
          return true;
        }
        if (drain) {
          phase = Phase::ended;
          spdlog::error("relay of outbox '{}' consumer '{}' failed: {}; with --drain it is not restarted",
                        settings.outbox, settings.consumer, failure);
          return false;
        }
        // A relay that ran a good while before failing starts its backoff afresh.
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(60)) attempt = 0;
        const auto delay = RelayGroup::restart_delay(++attempt);
        phase = Phase::failed;
        since = std::chrono::steady_clock::now();
        retry_at = since + delay;
        spdlog::error(
            "relay of outbox '{}' consumer '{}' failed: {}; the other relays go on, this one restarts in "
            "{:.0f} s",
            settings.outbox, settings.consumer, failure, std::chrono::duration<double>(delay).count());
        wake.wait_until(lock, retry_at, [&] { return stopping; });
        if (stopping) {
          phase = Phase::ended;
          return true;
        }
      }
    }
  }

  void stop_locked() {
    stopping = true;
    if (relay != nullptr) relay->stop();
    // A write waiting for a stalled destination gets the same time to finish as in-flight messages.
    if (sink != nullptr) sink->stop_within(options.shutdown_timeout);
    wake.notify_all();
  }

  Probe liveness_probe() const {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    if (relay != nullptr) return liveness(relay->state(), now, bound);
    if (phase == Phase::opening && now - since > bound) {
      return {false, fmt::format("stuck: opening the store or the sink has taken {:.0f} s; see the log, and restart "
                                 "the relay if it stays so",
                                 std::chrono::duration<double>(now - since).count())};
    }
    return {true, "ok"};  // opening, waiting to restart or ended: the loop is not blocked
  }

  Probe readiness_probe() const {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    if (relay != nullptr) return readiness(relay->state(), sink->health(), now, bound);
    switch (phase) {
      case Phase::opening:
        return {false, "starting: opening its store and sink"};
      case Phase::failed: {
        std::string why = failure;
        std::replace_if(
            why.begin(), why.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
        return {false, fmt::format("failed: {} (restarting in {:.0f} s)", why,
                                   std::ceil(std::max(0.0, std::chrono::duration<double>(retry_at - now).count())))};
      }
      case Phase::running:
      case Phase::ended:
        break;
    }
    return {false, "stopped: this relay has ended"};
  }
};

std::chrono::milliseconds RelayGroup::restart_delay(int attempt) {
  std::chrono::milliseconds d(1000);
  for (int i = 1; i < attempt && d < std::chrono::seconds(30); ++i) d *= 2;
  return std::min<std::chrono::milliseconds>(d, std::chrono::seconds(30));
}

RelayGroup::RelayGroup(const std::vector<RelaySettings>& relays, bool drain, std::function<void()> destination_gone)
    : drain_(drain) {
  for (const auto& s : relays) {
    // Several relays are restarted on failure: a URI that can never work is refused before any runs.
    if (relays.size() > 1) {
      if (find_store_scheme(s.store) == nullptr) open_store(s.store);  // throws the unknown-store UsageError
      if (find_sink_scheme(s.sink) == nullptr) open_sink(s.sink);      // likewise
    }
    auto r = std::make_unique<RelayRunner>();
    r->settings = s;
    r->options = relay_options(s, drain);
    r->bound = liveness_bound(r->options);
    r->destination_gone_callback = destination_gone;
    runners_.push_back(std::move(r));
  }
}

RelayGroup::~RelayGroup() {
  stop();
  for (auto& r : runners_) {
    if (r->thread.joinable()) r->thread.join();
  }
}

int RelayGroup::run() {
  if (runners_.size() == 1) {
    runners_[0]->run_once();
    runners_[0]->set_phase(RelayRunner::Phase::ended);
    return 0;
  }
  std::vector<int> failed(runners_.size(), 0);
  for (std::size_t i = 0; i < runners_.size(); ++i) {
    spdlog::info("relay {} of {}: outbox '{}' consumer '{}' from {} to {}", i + 1, runners_.size(),
                 runners_[i]->settings.outbox, runners_[i]->settings.consumer, redact_uri(runners_[i]->settings.store),
                 redact_uri(runners_[i]->settings.sink));
    runners_[i]->thread = std::thread([this, i, &failed] { failed[i] = runners_[i]->run_restarting(drain_) ? 0 : 1; });
  }
  for (auto& r : runners_) r->thread.join();
  int failures = 0;
  for (int f : failed) failures += f;
  return failures;
}

void RelayGroup::stop() {
  for (auto& r : runners_) {
    std::lock_guard lock(r->mutex);
    r->stop_locked();
  }
}

bool RelayGroup::destination_gone() const {
  for (const auto& r : runners_) {
    if (r->gone) return true;
  }
  return false;
}

std::vector<RelayFigures> RelayGroup::figures() const {
  std::vector<RelayFigures> out;
  for (const auto& r : runners_) {
    std::lock_guard lock(r->mutex);
    RelayStats total = r->carried;
    if (r->relay != nullptr) add(total, r->relay->stats());
    out.push_back({r->settings.outbox, r->settings.consumer, total});
  }
  return out;
}

std::vector<RelayProbe> RelayGroup::liveness() const {
  std::vector<RelayProbe> out;
  for (const auto& r : runners_) out.push_back({r->settings.outbox, r->settings.consumer, r->liveness_probe()});
  return out;
}

std::vector<RelayProbe> RelayGroup::readiness() const {
  std::vector<RelayProbe> out;
  for (const auto& r : runners_) out.push_back({r->settings.outbox, r->settings.consumer, r->readiness_probe()});
  return out;
}

}  // namespace outbox::cli

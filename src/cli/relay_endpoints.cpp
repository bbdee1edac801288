#include "relay_endpoints.hpp"

#include <mutex>

#include <spdlog/spdlog.h>

#include "outbox/metrics.hpp"
#include "outbox/outbox.hpp"

namespace outbox::cli {

namespace {

// The store figures: read at most once a second (and at most a tenth of the time, see
// StatusSampler); a scrape before the first reading waits this long for it.
constexpr std::chrono::milliseconds kStatusInterval{1000};
constexpr std::chrono::milliseconds kFirstStatusWait{5000};

}  // namespace

// One outbox of one store, with the connection its sampler reads through (opened on the sampler's
// thread at its first reading, so that a store that is down delays no relay and no other reading).
struct RelayEndpoints::Sampled {
  std::string store_uri, outbox;
  std::unique_ptr<Store> store;  // used only on the sampler's thread
  std::optional<StatusSampler> sampler;
};

RelayEndpoints::RelayEndpoints(const std::vector<RelaySettings>& relays, const RelayGroup& group) : group_(group) {
  for (const auto& r : relays) {
    bool seen = false;
    for (const auto& s : sampled_) seen = seen || (s->store_uri == r.store && s->outbox == r.outbox);
    if (seen) continue;
    auto s = std::make_unique<Sampled>();
    s->store_uri = r.store;
    s->outbox = r.outbox;
    Sampled* self = s.get();
    s->sampler.emplace(
        [self] {
          if (!self->store) self->store = open_store(self->store_uri);
          return self->store->status(self->outbox);
        },
        kStatusInterval);
    sampled_.push_back(std::move(s));
  }
}

RelayEndpoints::~RelayEndpoints() {
  for (auto& s : sampled_) s->sampler.reset();  // stops reading before the store goes
}

HttpAnswer RelayEndpoints::metrics() const {
  std::vector<OutboxReading> readings;
  std::string errors;
  for (const auto& s : sampled_) {
    try {
      const auto reading = s->sampler->latest(kFirstStatusWait);
      const double age = std::chrono::duration<double>(StatusSampler::Clock::now() - reading.taken).count();
      readings.push_back({reading.status, age});
    } catch (const std::exception& e) {
      // One store that cannot be read leaves the others' figures (and every relay's counters) served.
      if (sampled_.size() == 1) throw;
      spdlog::debug("metrics: no reading of outbox '{}': {}", s->outbox, e.what());
    }
  }
  std::vector<RelayCounters> relays;
  for (const auto& f : group_.figures()) relays.push_back({f.outbox, f.consumer, f.stats});
  return HttpAnswer{200, prometheus_metrics(readings, relays), "text/plain; version=0.0.4"};
}

HttpAnswer RelayEndpoints::answer(const std::vector<RelayProbe>& probes) {
  if (probes.size() == 1) return HttpAnswer{probes[0].probe.ok ? 200 : 503, probes[0].probe.reason + "\n"};
  std::string failing;
  for (const auto& p : probes) {
    if (!p.probe.ok) failing += p.outbox + "/" + p.consumer + ": " + p.probe.reason + "\n";
  }
  if (failing.empty()) return HttpAnswer{200, "ok\n"};
  return HttpAnswer{503, failing};
}

Routes RelayEndpoints::routes() {
  Routes routes;
  routes["/metrics"] = [this] { return metrics(); };
  routes["/healthz"] = [this] { return answer(group_.liveness()); };
  routes["/readyz"] = [this] { return answer(group_.readiness()); };
  return routes;
}

}  // namespace outbox::cli

// What the relay's metrics listener answers for a RelayGroup: /metrics (store figures of each
// relayed outbox, read in the background by one StatusSampler per store and outbox, and each
// relay's counters), /healthz and /readyz. With one relay the probes answer that relay's reason
// alone, as `outbox relay` always did; with several, a failing answer lists each relay that is not
// alive or not ready as "outbox/consumer: reason", one per line.
#pragma once

#include <memory>
#include <vector>

#include "metrics_server.hpp"
#include "relay_config.hpp"
#include "relay_group.hpp"
#include "status_sampler.hpp"

namespace outbox::cli {

class RelayEndpoints {
 public:
  // Starts the samplers; each opens its own store connection (scrapes never wait on a relay).
  RelayEndpoints(const std::vector<RelaySettings>& relays, const RelayGroup& group);
  ~RelayEndpoints();
  RelayEndpoints(const RelayEndpoints&) = delete;
  RelayEndpoints& operator=(const RelayEndpoints&) = delete;

  // The routes; they refer to this object and the group, which must outlive the server using them.
  Routes routes();

 private:
  struct Sampled;
  HttpAnswer metrics() const;
  static HttpAnswer answer(const std::vector<RelayProbe>& probes);

  const RelayGroup& group_;
  std::vector<std::unique_ptr<Sampled>> sampled_;
};

}  // namespace outbox::cli

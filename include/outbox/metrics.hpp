// Metrics in the Prometheus text exposition format, for `outbox relay --metrics HOST:PORT`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "outbox/relay.hpp"
#include "outbox/store.hpp"

namespace outbox {

// The relay's counters (when given) and, per outbox, what the store reports: message count,
// each consumer's lag in messages and seconds (the age of its oldest unpublished message: the
// figure to alert on), dead letters and messages dropped by a hard retention cap. When the store
// figures come from an earlier reading, `status_age_seconds` says how old it is.
std::string prometheus_metrics(const std::vector<OutboxStatus>& outboxes, const std::optional<RelayStats>& relay,
                               const std::string& relay_outbox, const std::string& relay_consumer,
                               std::optional<double> status_age_seconds = std::nullopt);

// Several relays in one process (`outbox relay --config` with several [[relay]] entries): each
// outbox's store figures with the age of their reading, and each relay's counters. Every family is
// written once (one HELP and TYPE line), its series told apart by the outbox and consumer labels.
struct OutboxReading {
  OutboxStatus status;
  std::optional<double> age_seconds;
};
struct RelayCounters {
  std::string outbox, consumer;
  RelayStats stats;
};
std::string prometheus_metrics(const std::vector<OutboxReading>& outboxes, const std::vector<RelayCounters>& relays);

}  // namespace outbox

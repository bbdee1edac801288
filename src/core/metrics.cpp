#include "outbox/metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <algorithm>

namespace outbox {

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A relay records "starting" when it takes the lease and reports its health with each checkpoint
// save or lease renewal (every lease TTL / 3). On an idle outbox nothing is saved before the first
// renewal, so "starting" under a live lease means "running, nothing wrong reported yet": counting
// only "ok" made a new relay look unhealthy for its first 10 s. A lease that ran out means the
// relay died without saying so (its last report is stale), so that counts as unhealthy.
bool consumer_healthy(const ConsumerStatus& c) {
  return c.lease_active && (c.health == "ok" || c.health == "starting");
}

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const char* name, const std::string& labels, double value) {
    out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string prometheus_metrics(const std::vector<OutboxStatus>& outboxes, const std::optional<RelayStats>& relay,
                               const std::string& relay_outbox, const std::string& relay_consumer,
                               std::optional<double> status_age_seconds) {
  std::vector<OutboxReading> readings;
  for (const auto& s : outboxes) readings.push_back({s, status_age_seconds});
  std::vector<RelayCounters> relays;
  if (relay) relays.push_back({relay_outbox, relay_consumer, *relay});
  return prometheus_metrics(readings, relays);
}

std::string prometheus_metrics(const std::vector<OutboxReading>& readings, const std::vector<RelayCounters>& relays) {
  Writer w;
  auto outbox_label = [](const std::string& o) { return fmt::format("outbox=\"{}\"", escape_label(o)); };
  auto consumer_label = [](const std::string& o, const std::string& c) {
    return fmt::format("outbox=\"{}\",consumer=\"{}\"", escape_label(o), escape_label(c));
  };
  std::vector<OutboxStatus> outboxes;
  for (const auto& r : readings) outboxes.push_back(r.status);
  w.family("outbox_messages", "gauge", "Messages stored in the outbox (published or not).");
  for (const auto& s : outboxes) w.sample("outbox_messages", outbox_label(s.name), static_cast<double>(s.count));
  w.family("outbox_consumer_lag_messages", "gauge", "Committed messages the consumer has not passed yet.");
  for (const auto& s : outboxes) {
    for (const auto& c : s.consumers) {
      w.sample("outbox_consumer_lag_messages", consumer_label(s.name, c.name), static_cast<double>(c.lag_messages));
    }
  }
  w.family("outbox_consumer_lag_seconds", "gauge",
           "Age of the oldest message the consumer has not passed (0 if none).");
  for (const auto& s : outboxes) {
    for (const auto& c : s.consumers)
      w.sample("outbox_consumer_lag_seconds", consumer_label(s.name, c.name), c.lag_seconds);
  }
  // PostgreSQL WAL mode only: a slot nobody reads keeps WAL until the server's disk is full.
  const bool any_slot = std::any_of(outboxes.begin(), outboxes.end(), [](const auto& s) {
    return std::any_of(s.consumers.begin(), s.consumers.end(), [](const auto& c) { return c.retained_wal_bytes; });
  });
  if (any_slot) {
    w.family("outbox_consumer_retained_wal_bytes", "gauge",
             "WAL the consumer's replication slot keeps on the server (PostgreSQL WAL mode); alert when it grows.");
    for (const auto& s : outboxes) {
      for (const auto& c : s.consumers) {
        if (c.retained_wal_bytes) {
          w.sample("outbox_consumer_retained_wal_bytes", consumer_label(s.name, c.name),
                   static_cast<double>(*c.retained_wal_bytes));
        }
      }
    }
  }
  w.family("outbox_consumer_healthy", "gauge",
           "1 while a relay holds the consumer's lease and has reported no trouble; 0 when none runs or it reports an "
           "error.");
  for (const auto& s : outboxes) {
    for (const auto& c : s.consumers) {
      w.sample("outbox_consumer_healthy", consumer_label(s.name, c.name), consumer_healthy(c) ? 1 : 0);
    }
  }
  w.family("outbox_dead_letters", "gauge", "Messages in the dead-letter table.");
  for (const auto& s : outboxes)
    w.sample("outbox_dead_letters", outbox_label(s.name), static_cast<double>(s.dead_letters));
  w.family("outbox_dropped_total", "counter", "Unpublished messages removed by a hard retention limit.");
  for (const auto& s : outboxes) w.sample("outbox_dropped_total", outbox_label(s.name), static_cast<double>(s.dropped));
  const bool any_age = std::any_of(readings.begin(), readings.end(), [](const auto& r) { return r.age_seconds; });
  if (any_age) {
    w.family("outbox_status_age_seconds", "gauge",
             "Age of the store reading behind the message, lag, dead-letter and dropped figures.");
    for (const auto& r : readings) {
      if (r.age_seconds) w.sample("outbox_status_age_seconds", outbox_label(r.status.name), *r.age_seconds);
    }
  }

  if (!relays.empty()) {
    using Field = std::int64_t RelayStats::*;
    const std::pair<const char*, Field> counters[] = {
        {"outbox_relay_published_total", &RelayStats::published},
        {"outbox_relay_acknowledged_total", &RelayStats::acknowledged},
        {"outbox_relay_retries_total", &RelayStats::retries},
        {"outbox_relay_dead_lettered_total", &RelayStats::dead_lettered},
        {"outbox_relay_checkpoints_total", &RelayStats::checkpoints},
        {"outbox_relay_retention_deleted_total", &RelayStats::retention_deleted},
    };
    for (const auto& [name, field] : counters) {
      w.family(name, "counter", "Relay counter since this process started.");
      for (const auto& r : relays)
        w.sample(name, consumer_label(r.outbox, r.consumer), static_cast<double>(r.stats.*field));
    }
    w.family("outbox_relay_checkpoint_position", "gauge", "Position of the last checkpoint this relay saved.");
    for (const auto& r : relays) {
      w.sample("outbox_relay_checkpoint_position", consumer_label(r.outbox, r.consumer),
               static_cast<double>(r.stats.last_position));
    }
  }
  return w.take();
}

}  // namespace outbox

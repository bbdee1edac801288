#include "config_print.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <toml++/toml.h>

#include "outbox/store.hpp"
#include "printable.hpp"

namespace outbox::cli {

bool is_secret_property(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"password", "secret", "token", "key"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string redact_sink_uri(const std::string& uri) {
  std::string out = redact_uri(uri);
  // query=VALUE in the query string, up to the next parameter.
  const auto question = out.find('?');
  if (question == std::string::npos) return out;
  std::size_t at = question;
  while (at != std::string::npos && at < out.size()) {
    const std::size_t start = at + 1;
    const std::size_t end = std::min(out.find('&', start), out.size());
    if (out.compare(start, 6, "query=") == 0 && end > start + 6) out.replace(start + 6, end - start - 6, "***");
    at = out.find('&', start);
  }
  return out;
}

std::string config_as_toml(const RelayConfig& config) {
  toml::table root;
  if (!config.metrics.empty()) root.insert("metrics", config.metrics);
  root.insert("drain", config.drain);
  toml::array relays;
  for (const auto& s : config.relays) {
    toml::table t;
    t.insert("store", redact_uri(s.store));
    t.insert("outbox", s.outbox);
    t.insert("sink", redact_sink_uri(s.sink));
    t.insert("consumer", s.consumer);
    t.insert("batch_size", s.batch_size);
    t.insert("max_in_flight", s.max_in_flight);
    t.insert("max_attempts", s.max_attempts);
    t.insert("shutdown_timeout", s.shutdown_timeout);
    t.insert("max_count", s.max_count);
    t.insert("max_age", s.max_age);
    t.insert("hard_max_count", s.hard_max_count);
    t.insert("retention_interval", s.retention_interval);
    t.insert("lease_ttl", s.lease_ttl);
    t.insert("checkpoint_interval_ms", s.checkpoint_interval_ms);
    t.insert("poll", s.poll);
    t.insert("no_wait", s.no_wait);
    toml::table props;
    for (const auto& [name, value] : s.sink_properties) {
      props.insert(name, is_secret_property(name) ? std::string("***") : redact_uri(value));
    }
    t.insert("sink_properties", std::move(props));
    relays.push_back(std::move(t));
  }
  root.insert("relay", std::move(relays));
  std::ostringstream out;
  out << "# The effective relay configuration: flags > OUTBOX_* environment > ";
  out << (config.config_file.empty() ? std::string("(no config file)") : printable(config.config_file));
  out << ". Secrets show as ***.\n" << root << '\n';
  return out.str();
}

}  // namespace outbox::cli

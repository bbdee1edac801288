// The settings of `outbox relay` (and `outbox config --print`), gathered from three places and
// merged with the precedence operators expect from daemons: command-line flags > OUTBOX_*
// environment variables > the TOML file given by --config (or OUTBOX_CONFIG). The file may list
// several [[relay]] entries; its top-level keys are defaults for each of them. Everything given is
// checked before anything runs: an unknown key, a wrong type or a value out of range is a
// UsageError (exit 2) naming where it came from (flag, variable, or file:line), so that a typo
// never silently falls back to a default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace outbox::cli {

// One relay's effective settings (the flags of `outbox relay` have the same names with '-').
struct RelaySettings {
  std::string store, outbox, sink;
  std::string consumer = "default";
  std::int64_t batch_size = 1000;
  std::int64_t max_in_flight = 2000;  // published, not yet acknowledged (RelayOptions::max_in_flight)
  std::int64_t max_attempts = 5;
  double shutdown_timeout = 10;  // seconds
  std::int64_t max_count = 0;    // retention; 0 = none
  double max_age = 0;            // seconds; 0 = none
  std::int64_t hard_max_count = 0;
  std::int64_t retention_interval = 10;  // seconds between retention rounds
  std::int64_t lease_ttl = 30;           // seconds
  std::int64_t checkpoint_interval_ms = 100;
  bool poll = false;
  bool no_wait = false;
  std::map<std::string, std::string> sink_properties;
  // Where the entry was defined, for messages: "relay.toml:12" ([[relay]] entry) or "" (the only one).
  std::string defined_at;
};

// The whole process: its relays and what they share.
struct RelayConfig {
  std::vector<RelaySettings> relays;
  std::string metrics;  // --metrics as given (PORT or HOST:PORT, checked), "" = none
  std::string metrics_origin = "--metrics";
  bool drain = false;
  std::string config_file;            // the file read, "" = none
  std::vector<std::string> warnings;  // to log: e.g. OUTBOX_* variables that name no setting
};

// A value as one source gave it, and where: "--batch-size", "OUTBOX_BATCH_SIZE" or "relay.toml:3".
using SettingValue = std::variant<bool, std::int64_t, double, std::string, std::map<std::string, std::string>>;
struct GivenSetting {
  SettingValue value;
  std::string origin;
};
// Setting key ("batch_size", "sink_properties", ...) -> value.
using SettingLayer = std::map<std::string, GivenSetting>;

// The setting keys, in the order documented (docs/operations.md).
const std::vector<std::string>& relay_setting_keys();
// OUTBOX_BATCH_SIZE for "batch_size".
std::string environment_name(const std::string& key);

// Merges `flags` (typed values from the command line; "config" names the file), the process
// environment `environment` (all variables; only OUTBOX_* ones are read) and the file. Throws
// UsageError for anything wrong, naming where it came from and what to do.
RelayConfig load_relay_config(const SettingLayer& flags, const std::map<std::string, std::string>& environment);

// The environment of this process as a map (for load_relay_config).
std::map<std::string, std::string> process_environment();

}  // namespace outbox::cli

#include "commands.hpp"

#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>

#include <spdlog/spdlog.h>

#include "config_print.hpp"
#include "data_argument.hpp"
#include "dead_letters_command.hpp"
#include "header_name.hpp"
#include "health_checks.hpp"
#include "host_port.hpp"
#include "metrics_server.hpp"
#include "outbox/metrics.hpp"
#include "outbox/outbox.hpp"
#include "outbox/scheme.hpp"
#include "printable.hpp"
#include "relay_config.hpp"
#include "relay_endpoints.hpp"
#include "relay_group.hpp"
#include "standard_output.hpp"
#include "status_sampler.hpp"
#include "stop_signals.hpp"

namespace outbox::cli {

namespace {

struct Common {
  std::string store;
  std::string outbox;
};

struct Options {
  Common common;
  // put
  std::string schema_file, type, data, key;
  std::vector<std::string> headers;
  // tail / seek
  std::string from = "beginning";
  std::string to;
  bool follow = false;
  bool poll = false;  // tail/relay: poll instead of waiting for writers' wake-ups
  // relay
  std::string sink, consumer = "default";
  std::size_t batch_size = 1000;
  std::int64_t max_in_flight = 2000;
  int max_attempts = 5;
  double shutdown_timeout = 10;
  std::int64_t max_count = 0, hard_max_count = 0;
  double max_age = 0;
  int retention_interval = 10;
  bool drain = false;
  std::vector<std::string> sink_properties;
  std::string metrics;
  std::string config_file;  // relay, config --print
  bool print_sql = false;
  bool print = false;  // config --print
  int lease_ttl = 30;
  int checkpoint_interval_ms = 100;
  bool no_wait = false;
  // status
  bool json = false;
};

Options opts;

StopSignals* signals = nullptr;  // set by run_selected

std::int64_t parse_position(const std::string& text, const char* option) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 1) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(std::string(option) + " takes beginning, end or a position (1 or more), not '" + printable(text) +
                   "'");
}

constexpr const char* kPollHelp =
    "Poll for commits (1-100 ms) instead of waiting for writers' wake-ups: for outboxes also written by programs "
    "that send none (PostgreSQL: plain INSERTs, or Outbox put with wake_relay = false)";

void add_store_options(CLI::App* sub, bool with_outbox = true) {
  static const std::string store_help = "Store URI: " + store_usages();
  sub->add_option("--store", opts.common.store, store_help)->required();
  if (with_outbox) sub->add_option("--outbox", opts.common.outbox, "Outbox name ([a-z][a-z0-9_]*)")->required();
}

int cmd_init() {
  if (opts.print_sql) {
    check_identifier(opts.common.outbox, "outbox name");
    const StoreScheme* scheme = find_store_scheme(opts.common.store);
    if (scheme == nullptr) open_store(opts.common.store);  // throws the unknown-store error
    if (scheme->init_sql == nullptr) {
      throw UsageError(std::string("--print-sql prints the DDL of stores whose tables a migration tool may create "
                                   "(PostgreSQL); the ") +
                       scheme->name + " store creates its own with `outbox init`");
    }
    std::cout << scheme->init_sql(opts.common.store, opts.common.outbox) << std::endl;
    return 0;
  }
  auto store = open_store(opts.common.store);
  store->init(opts.common.outbox);
  spdlog::info("outbox '{}' is ready in {}", opts.common.outbox, redact_uri(opts.common.store));
  return 0;
}

int cmd_put() {
  auto registry = SchemaRegistry::from_file(opts.schema_file);
  Message m;
  m.outbox = opts.common.outbox;
  m.type = opts.type;
  if (!opts.key.empty()) m.key = opts.key;
  for (const auto& h : opts.headers) {
    const auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--header takes name=value, e.g. traceparent=00-..., not '" + printable(h) + "'");
    }
    check_header_name(h.substr(0, eq));
    m.headers[h.substr(0, eq)] = h.substr(eq + 1);
  }
  // JSON text may be pretty-printed: allow it room beyond the serialized payload limit.
  const std::string data = read_data_argument(opts.data, 8 * registry.limits().max_payload_bytes + 4096);
  // ValidationError (exit 2) for text that is not JSON and for numbers out of range (1e400).
  m.data = parse_data(data);
  auto store = open_store(opts.common.store);
  const Message written = store->put(registry, std::move(m));
  std::cout << nlohmann::json{{"id", written.id}, {"position", written.position}}.dump() << '\n';
  flush_stdout();
  return 0;
}

StoreOptions tail_store_options() {
  StoreOptions o;
  o.wakeups = !opts.poll;
  return o;
}

int cmd_tail() {
  if (opts.follow) signals->hold();  // SIGINT/SIGTERM end --follow with exit 0, also while opening
  auto store = open_store(opts.common.store, tail_store_options());
  Cursor from = Cursor::beginning();
  if (opts.from == "end")
    from = Cursor::end();
  else if (opts.from != "beginning")
    from = Cursor::after(store->checkpoint_before(parse_position(opts.from, "--from")));
  auto tail = store->tail(opts.common.outbox, from);
  std::optional<StopSignals::Handler> on_stop;
  if (opts.follow) on_stop.emplace(*signals, [&] { tail->close(); });
  for (;;) {
    auto batch = tail->next(opts.follow ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0));
    for (const auto& m : batch) std::cout << to_json_line(m) << '\n';
    flush_stdout();
    if (batch.empty() && (!opts.follow || tail->closed())) break;
    // An idle outbox gives nothing to write, so a reader that left (`tail --follow | head -3`)
    // would otherwise go unnoticed until the next commit.
    if (opts.follow) end_if_stdout_reader_gone();
  }
  return 0;
}

CLI::App* relay_app = nullptr;   // the relay's flags, also registered on `config`
CLI::App* config_app = nullptr;  // `outbox config`

// The relay settings given as flags on `app` (relay or config), typed as CLI11 parsed them.
SettingLayer flag_settings(CLI::App* app) {
  SettingLayer layer;
  auto given = [&](const char* flag) { return app->count(flag) > 0; };
  auto text = [&](const char* key, const char* flag, const std::string& v) {
    if (given(flag)) layer[key] = {v, flag};
  };
  auto integer = [&](const char* key, const char* flag, std::int64_t v) {
    if (given(flag)) layer[key] = {v, flag};
  };
  auto number = [&](const char* key, const char* flag, double v) {
    if (given(flag)) layer[key] = {v, flag};
  };
  auto boolean = [&](const char* key, const char* flag, bool v) {
    if (given(flag)) layer[key] = {v, flag};
  };
  text("config", "--config", opts.config_file);
  text("store", "--store", opts.common.store);
  text("outbox", "--outbox", opts.common.outbox);
  text("sink", "--sink", opts.sink);
  text("consumer", "--consumer", opts.consumer);
  integer("batch_size", "--batch-size", static_cast<std::int64_t>(opts.batch_size));
  integer("max_in_flight", "--max-in-flight", opts.max_in_flight);
  integer("max_attempts", "--max-attempts", opts.max_attempts);
  number("shutdown_timeout", "--shutdown-timeout", opts.shutdown_timeout);
  integer("max_count", "--max-count", opts.max_count);
  number("max_age", "--max-age", opts.max_age);
  integer("hard_max_count", "--hard-max-count", opts.hard_max_count);
  integer("retention_interval", "--retention-interval", opts.retention_interval);
  integer("lease_ttl", "--lease-ttl", opts.lease_ttl);
  integer("checkpoint_interval_ms", "--checkpoint-interval-ms", opts.checkpoint_interval_ms);
  boolean("poll", "--poll", opts.poll);
  boolean("no_wait", "--no-wait", opts.no_wait);
  boolean("drain", "--drain", opts.drain);
  text("metrics", "--metrics", opts.metrics);
  if (given("-X")) {
    std::map<std::string, std::string> properties;
    for (const auto& p : opts.sink_properties) {
      const auto eq = p.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("-X takes key=value, not '" + printable(p) + "'");
      properties[p.substr(0, eq)] = p.substr(eq + 1);
    }
    layer["sink_properties"] = {properties, "-X"};
  }
  return layer;
}

RelayConfig relay_config(CLI::App* app) {
  RelayConfig config = load_relay_config(flag_settings(app), process_environment());
  for (const auto& w : config.warnings) spdlog::warn("{}", w);
  return config;
}

int cmd_relay() {
  signals->hold();  // from here on a SIGINT/SIGTERM stops the relay in order, even before it runs
  const RelayConfig config = relay_config(relay_app);
  std::optional<HostPort> metrics_address;
  if (!config.metrics.empty()) metrics_address = parse_host_port(config.metrics, config.metrics_origin);

  // Declaration order is destruction order reversed: the metrics server (which reads the relays and
  // their stores) stops first, then the signal handler (which stops the relays) goes, then the relays.
  RelayGroup group(config.relays, config.drain, [] { signals->request_stop(); });
  StopSignals::Handler on_stop(*signals, [&] { group.stop(); });
  std::optional<RelayEndpoints> endpoints;
  std::optional<MetricsServer> metrics;
  if (metrics_address) {
    endpoints.emplace(config.relays, group);
    metrics.emplace(*metrics_address, endpoints->routes());
  }
  const int failed = group.run();
  metrics.reset();
  if (group.destination_gone()) {
    spdlog::error(
        "the relay stopped because nothing reads its output any more (stdout was closed); its checkpoint "
        "is saved and its lease released: start it again with a reader attached");
    return 1;
  }
  if (failed > 0) {
    spdlog::error(
        "{} of {} relays failed before draining (see above); the others drained: fix the cause and run "
        "again",
        failed, group.size());
    return 1;
  }
  return 0;
}

int cmd_config() {
  if (!opts.print) throw UsageError("outbox config does nothing without --print; see `outbox config --help`");
  std::cout << config_as_toml(relay_config(config_app));
  flush_stdout();
  return 0;
}

std::string age(const std::optional<Timestamp>& t) {
  if (!t) return "-";
  return fmt::format("{:.3f}s", std::chrono::duration<double>(now() - *t).count());
}

nlohmann::json status_json(const OutboxStatus& s) {
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  auto ts = [](const std::optional<Timestamp>& t) {
    return t ? nlohmann::json(format_timestamp(*t)) : nlohmann::json();
  };
  nlohmann::json consumers = nlohmann::json::array();
  for (const auto& c : s.consumers) {
    consumers.push_back({{"name", c.name},
                         {"checkpoint", c.checkpoint},
                         {"position", opt(c.position)},
                         {"lag_messages", c.lag_messages},
                         {"lag_seconds", c.lag_seconds},
                         {"updated", ts(c.updated)},
                         {"owner", c.owner},
                         {"lease_active", c.lease_active},
                         {"health", c.health}});
    if (c.retained_wal_bytes) consumers.back()["retained_wal_bytes"] = *c.retained_wal_bytes;
    if (c.lag_messages_at_least) consumers.back()["lag_messages_at_least"] = true;
  }
  return {{"outbox", s.name},
          {"count", s.count},
          {"oldest_position", opt(s.oldest_position)},
          {"newest_position", opt(s.newest_position)},
          {"oldest_created", ts(s.oldest_created)},
          {"newest_created", ts(s.newest_created)},
          {"consumers", consumers},
          {"dead_letters", s.dead_letters},
          {"dropped", s.dropped}};
}

int cmd_status() {
  auto store = open_store(opts.common.store);
  std::vector<std::string> names;
  if (!opts.common.outbox.empty())
    names.push_back(opts.common.outbox);
  else
    names = store->outboxes();
  nlohmann::json all = nlohmann::json::array();
  for (const auto& name : names) {
    const OutboxStatus s = store->status(name);
    if (opts.json) {
      all.push_back(status_json(s));
      continue;
    }
    std::cout << fmt::format("outbox {}: {} messages", s.name, s.count);
    if (s.oldest_position) {
      std::cout << fmt::format(", positions {}..{}, oldest {} old, newest {} old", *s.oldest_position,
                               *s.newest_position, age(s.oldest_created), age(s.newest_created));
    }
    std::cout << fmt::format(", {} dead letters, {} dropped\n", s.dead_letters, s.dropped);
    for (const auto& c : s.consumers) {
      std::cout << fmt::format("  consumer {}: checkpoint {}, lag {}{} messages ({:.3f}s), {}, health {}\n", c.name,
                               c.checkpoint, c.lag_messages_at_least ? "at least " : "", c.lag_messages, c.lag_seconds,
                               c.lease_active ? "relay " + c.owner + " running" : std::string("no relay running"),
                               c.health.empty() ? "-" : c.health);
      if (c.retained_wal_bytes) {
        std::cout << fmt::format("    replication slot retains {} bytes of WAL\n", *c.retained_wal_bytes);
      }
    }
    if (s.consumers.empty()) std::cout << "  no consumers yet (start one with `outbox relay`)\n";
  }
  if (opts.json) std::cout << all.dump(2) << '\n';
  if (names.empty() && !opts.json) std::cout << "no outboxes in this store (create one with `outbox init`)\n";
  flush_stdout();
  return 0;
}

int cmd_seek() {
  auto store = open_store(opts.common.store);
  std::string checkpoint;
  if (opts.to == "beginning")
    checkpoint = store->checkpoint_before(1);
  else if (opts.to == "end")
    checkpoint = store->checkpoint_at_end(opts.common.outbox);
  else
    checkpoint = store->checkpoint_before(parse_position(opts.to, "--to"));
  store->seek(opts.common.outbox, opts.consumer, checkpoint);
  spdlog::info("consumer '{}' of outbox '{}' now resumes after checkpoint {}", opts.consumer, opts.common.outbox,
               checkpoint);
  return 0;
}

}  // namespace

// The relay's settings as flags (relay, and config --print). None is required here: store, outbox
// and sink may also come from the environment or the config file, checked after merging.
void add_relay_options(CLI::App* sub) {
  static const std::string store_help = "Store URI: " + store_usages() + " (or OUTBOX_STORE, or store in --config)";
  sub->add_option("--store", opts.common.store, store_help);
  sub->add_option("--outbox", opts.common.outbox, "Outbox name ([a-z][a-z0-9_]*)");
  sub->add_option("--config", opts.config_file,
                  "A TOML file of relay settings, one or several [[relay]] entries (also OUTBOX_CONFIG); flags and "
                  "OUTBOX_* variables override it");
  static const std::string sink_help = "Sink URI: " + sink_usages() +
                                       " (a Kafka TOPIC may use {outbox} and {type}; add ?cloudevents=true for "
                                       "CloudEvents binary mode)";
  sub->add_option("--sink", opts.sink, sink_help);
  sub->add_option("-X", opts.sink_properties, "A broker client property key=value (repeatable), e.g. -X linger.ms=5");
  sub->add_option("--consumer", opts.consumer, "Consumer name; its checkpoint is kept in the store")
      ->capture_default_str();
  sub->add_option("--batch-size", opts.batch_size, "Messages read per batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--max-in-flight", opts.max_in_flight,
                  "Messages published but not yet acknowledged, at most (the relay's memory grows with it: about "
                  "2 KB each with Kafka)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--max-attempts", opts.max_attempts, "Permanent failures before a message is dead-lettered")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--shutdown-timeout", opts.shutdown_timeout, "Seconds to drain in-flight messages on stop")
      ->capture_default_str();
  sub->add_option("--max-count", opts.max_count, "Retention: keep at most this many published messages");
  sub->add_option("--max-age", opts.max_age, "Retention: delete published messages older than this many seconds");
  sub->add_option("--hard-max-count", opts.hard_max_count,
                  "Retention: absolute cap that drops even unpublished messages (each one counted and logged)");
  sub->add_option("--retention-interval", opts.retention_interval,
                  "Seconds between retention rounds (with --max-count, --max-age or --hard-max-count)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  sub->add_flag("--drain", opts.drain, "Exit once everything committed so far is published");
  sub->add_option("--lease-ttl", opts.lease_ttl,
                  "Seconds a relay's lease on its consumer lasts without renewal (a killed relay's successor waits at "
                  "most this)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  sub->add_option(
      "--metrics", opts.metrics,
      "Serve Prometheus metrics at http://HOST:PORT/metrics and health probes at /healthz (every relay loop "
      "turns) and /readyz (every relay holds its lease and its sink is healthy): PORT alone listens on 127.0.0.1, "
      "e.g. 9464, 0.0.0.0:9464, or [::1]:9464 for IPv6");
  sub->add_option("--checkpoint-interval-ms", opts.checkpoint_interval_ms,
                  "Longest time the acknowledged position may go unsaved while messages flow (after a crash, at most "
                  "this much is published again)")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  sub->add_flag("--poll", opts.poll, kPollHelp);
  sub->add_flag("--no-wait", opts.no_wait,
                "Exit with an error instead of waiting while another relay holds the consumer");
}

void register_commands(CLI::App& app) {
  auto* init = app.add_subcommand("init", "Create an outbox's tables (idempotent)");
  add_store_options(init);
  init->add_flag("--print-sql", opts.print_sql,
                 "Print the PostgreSQL DDL instead of running it (for migration tools); nothing is changed");

  auto* put =
      app.add_subcommand("put", "Validate and write one message in its own transaction; prints its id and position");
  add_store_options(put);
  put->add_option("--schema", opts.schema_file, "JSON file mapping each message type to its JSON Schema")
      ->required()
      ->check(CLI::ExistingFile);
  put->add_option("--type", opts.type, "Message type (a key of the schema file)")->required();
  put->add_option("--data", opts.data,
                  "The message's data, a JSON object; @PATH reads it from a file, - from standard input (for data "
                  "beyond the 128 KiB an argument may hold)")
      ->required();
  put->add_option("--key", opts.key, "Partition key; messages with one key are delivered in order");
  put->add_option("--header", opts.headers,
                  "A header name=value (repeatable), e.g. traceparent=...; names take letters, digits and "
                  "!#$%&'*+-.^_`|~");

  auto* tail = app.add_subcommand("tail", "Print messages as JSON lines");
  add_store_options(tail);
  tail->add_option("--from", opts.from, "beginning, end, or a position to start at (inclusive)")->capture_default_str();
  tail->add_flag("--follow,-f", opts.follow, "Keep waiting for new commits until interrupted");
  tail->add_flag("--poll", opts.poll, kPollHelp);

  relay_app = app.add_subcommand(
      "relay",
      "Publish committed messages to a sink until stopped (SIGTERM/SIGINT). Settings come from flags, OUTBOX_* "
      "environment variables and --config FILE, in that order of precedence (docs/operations.md)");
  add_relay_options(relay_app);
  config_app = app.add_subcommand("config", "Show the relay's effective configuration (file, environment, flags)");
  config_app->add_flag("--print", opts.print,
                       "Print the merged relay settings as TOML, secrets shown as ***; takes the relay's flags");
  add_relay_options(config_app);

  auto* status = app.add_subcommand("status", "Per outbox: messages, positions, ages, consumers' lag, dead letters");
  add_store_options(status, false);
  status->add_option("--outbox", opts.common.outbox, "Only this outbox");
  status->add_flag("--json", opts.json, "Print JSON");

  auto* seek = app.add_subcommand("seek", "Move a consumer's checkpoint (replay or skip); stop its relay first");
  add_store_options(seek);
  seek->add_option("--consumer", opts.consumer, "Consumer name")->required();
  seek->add_option("--to", opts.to, "beginning, end, or the position to deliver next")->required();

  register_dead_letters(app);
}

int run_selected(CLI::App& app, StopSignals& stop_signals) {
  signals = &stop_signals;
  static const std::pair<const char*, int (*)()> commands[] = {
      {"init", cmd_init},     {"put", cmd_put},       {"tail", cmd_tail}, {"relay", cmd_relay},
      {"config", cmd_config}, {"status", cmd_status}, {"seek", cmd_seek}, {"dead-letters", run_dead_letters}};
  for (const auto& [name, fn] : commands) {
    if (app.got_subcommand(name)) return fn();
  }
  throw UsageError("no subcommand given; see `outbox --help`");
}

}  // namespace outbox::cli

#include "relay_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "host_port.hpp"
#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "printable.hpp"

extern char** environ;

namespace outbox::cli {

namespace {

enum class Kind { text, integer, number, boolean, properties };
enum class Scope { relay, process, file };  // file: only --config / OUTBOX_CONFIG

struct SettingSpec {
  const char* key;
  const char* flag;
  Kind kind;
  Scope scope;
  double min = 0, max = 0;  // integer and number ranges (inclusive)
  bool identity = false;    // names which relay an entry is: never one value for several entries
};

constexpr double kNoMax = 9.0e15;

// The table behind every check and message. Ranges match the flags' (see commands.cpp).
const std::vector<SettingSpec>& specs() {
  static const std::vector<SettingSpec> all = {
      {"store", "--store", Kind::text, Scope::relay},
      {"outbox", "--outbox", Kind::text, Scope::relay, 0, 0, true},
      {"sink", "--sink", Kind::text, Scope::relay},
      {"consumer", "--consumer", Kind::text, Scope::relay, 0, 0, true},
      {"batch_size", "--batch-size", Kind::integer, Scope::relay, 1, 100000},
      {"max_in_flight", "--max-in-flight", Kind::integer, Scope::relay, 1, 1000000},
      {"max_attempts", "--max-attempts", Kind::integer, Scope::relay, 1, 1000},
      {"shutdown_timeout", "--shutdown-timeout", Kind::number, Scope::relay, 0, 86400},
      {"max_count", "--max-count", Kind::integer, Scope::relay, 0, kNoMax},
      {"max_age", "--max-age", Kind::number, Scope::relay, 0, kNoMax},
      {"hard_max_count", "--hard-max-count", Kind::integer, Scope::relay, 0, kNoMax},
      {"retention_interval", "--retention-interval", Kind::integer, Scope::relay, 1, 86400},
      {"lease_ttl", "--lease-ttl", Kind::integer, Scope::relay, 1, 3600},
      {"checkpoint_interval_ms", "--checkpoint-interval-ms", Kind::integer, Scope::relay, 0, 60000},
      {"poll", "--poll", Kind::boolean, Scope::relay},
      {"no_wait", "--no-wait", Kind::boolean, Scope::relay},
      {"sink_properties", "-X", Kind::properties, Scope::relay},
      {"metrics", "--metrics", Kind::text, Scope::process},
      {"drain", "--drain", Kind::boolean, Scope::process},
      {"config", "--config", Kind::text, Scope::file},
  };
  return all;
}

const SettingSpec* find_spec(const std::string& key) {
  for (const auto& s : specs()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

std::string file_keys_list() {
  std::string out;
  for (const auto& s : specs()) {
    if (s.scope == Scope::file) continue;
    out += (out.empty() ? "" : ", ") + std::string(s.key);
  }
  return out;
}

std::string range_text(const SettingSpec& s) {
  if (s.max >= kNoMax) return fmt::format("{} or more", s.min);
  return fmt::format("from {} to {}", s.min, s.max);
}

std::string kind_text(const SettingSpec& s) {
  switch (s.kind) {
    case Kind::text:
      return "a string";
    case Kind::integer:
      return "an integer " + range_text(s);
    case Kind::number:
      return "a number " + range_text(s);
    case Kind::boolean:
      return "true or false";
    case Kind::properties:
      return "a table of name = \"value\" pairs";
  }
  return "";
}

// "relay.toml:3" for a node of the file.
std::string where(const std::string& file, const toml::source_region& region) {
  return fmt::format("{}:{}", file, region.begin.line);
}

// --- values from the file -------------------------------------------------------------------------

std::string toml_type_name(const toml::node& node) {
  std::ostringstream s;
  s << node.type();
  return s.str();
}

// Sink properties may be written with dots unquoted ("linger.ms" = 5 or linger.ms = 5, which TOML
// reads as nested tables): flattened back to the broker client's dotted names.
void flatten_properties(const toml::table& table, const std::string& prefix, const std::string& file,
                        std::map<std::string, std::string>& out) {
  for (auto&& [k, v] : table) {
    const std::string name = prefix + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      flatten_properties(*sub, name + ".", file, out);
    } else if (const auto* s = v.as_string()) {
      out[name] = s->get();
    } else if (const auto* i = v.as_integer()) {
      out[name] = std::to_string(i->get());
    } else if (const auto* b = v.as_boolean()) {
      out[name] = b->get() ? "true" : "false";
    } else if (const auto* f = v.as_floating_point()) {
      out[name] = fmt::format("{}", f->get());
    } else {
      throw UsageError(
          fmt::format("{}: sink property '{}' must be a string, number or boolean, not {}: write it as "
                      "\"{}\" = \"VALUE\"",
                      where(file, v.source()), printable(name), toml_type_name(v), printable(name)));
    }
  }
}

GivenSetting from_toml(const SettingSpec& spec, const toml::node& node, const std::string& file) {
  const std::string at = where(file, node.source());
  auto wrong = [&]() -> GivenSetting {
    throw UsageError(fmt::format("{}: {} must be {}, not a TOML {}: correct it in {}", at, spec.key, kind_text(spec),
                                 toml_type_name(node), file));
  };
  switch (spec.kind) {
    case Kind::text:
      if (const auto* s = node.as_string()) return {s->get(), at};
      return wrong();
    case Kind::integer:
      if (const auto* i = node.as_integer()) return {i->get(), at};
      return wrong();
    case Kind::number:
      if (const auto* i = node.as_integer()) return {static_cast<double>(i->get()), at};
      if (const auto* f = node.as_floating_point()) return {f->get(), at};
      return wrong();
    case Kind::boolean:
      if (const auto* b = node.as_boolean()) return {b->get(), at};
      return wrong();
    case Kind::properties: {
      const auto* t = node.as_table();
      if (t == nullptr) return wrong();
      std::map<std::string, std::string> props;
      flatten_properties(*t, "", file, props);
      return {props, at};
    }
  }
  return wrong();
}

// The keys of one table of the file (the top level or a [[relay]] entry).
SettingLayer layer_from_table(const toml::table& table, const std::string& file, bool is_entry, int entry) {
  SettingLayer layer;
  const std::string in = is_entry ? fmt::format(" in [[relay]] entry {}", entry) : std::string();
  for (auto&& [k, v] : table) {
    const std::string key(k.str());
    if (!is_entry && key == "relay") continue;  // the entries, read by the caller
    const SettingSpec* spec = find_spec(key);
    const std::string at = where(file, k.source());
    if (spec == nullptr || spec->scope == Scope::file) {
      throw UsageError(
          fmt::format("{}: unknown key '{}'{}; the keys are {}: correct or remove it (see "
                      "docs/operations.md)",
                      at, printable(key), in, file_keys_list()));
    }
    if (is_entry && spec->scope == Scope::process) {
      throw UsageError(
          fmt::format("{}: '{}'{} applies to the whole relay process, not to one entry: move it to the "
                      "top of {}, before the first [[relay]]",
                      at, key, in, file));
    }
    layer[key] = from_toml(*spec, v, file);
  }
  return layer;
}

struct FileLayers {
  SettingLayer top;
  std::vector<SettingLayer> entries;
  std::vector<std::string> entry_at;  // file:line of each [[relay]]
};

FileLayers read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw UsageError(
        fmt::format("cannot read the config file {}: {}; check the path given by --config or "
                    "OUTBOX_CONFIG",
                    printable(file), std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), file);
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}:{}:{}: not valid TOML: {}; fix the file (TOML syntax: https://toml.io)", file,
                                 e.source().begin.line, e.source().begin.column, e.description()));
  }
  FileLayers out;
  out.top = layer_from_table(root, file, false, 0);
  if (const toml::node* relays = root.get("relay")) {
    const auto* array = relays->as_array();
    if (array == nullptr || !array->is_array_of_tables() || array->empty()) {
      throw UsageError(
          fmt::format("{}: 'relay' must be a list of [[relay]] tables, one per outbox and consumer: "
                      "write each as [[relay]] followed by its keys",
                      where(file, relays->source())));
    }
    int n = 0;
    for (const auto& node : *array) {
      ++n;
      out.entries.push_back(layer_from_table(*node.as_table(), file, true, n));
      out.entry_at.push_back(where(file, node.source()));
    }
  }
  return out;
}

// --- values from the environment ------------------------------------------------------------------

std::optional<std::int64_t> parse_integer(const std::string& text) {
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// OUTBOX_SINK_PROPERTIES: "name=value,name=value" (a value holding a comma goes in the file).
std::map<std::string, std::string> parse_properties(const std::string& text, const std::string& variable) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const auto comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    at = comma + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(
          fmt::format("{}: takes name=value pairs separated by commas, e.g. "
                      "sasl.username=relay,sasl.password=..., not '{}': fix or unset the variable",
                      variable, printable(item)));
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

GivenSetting from_environment(const SettingSpec& spec, const std::string& variable, const std::string& text) {
  auto wrong = [&]() -> GivenSetting {
    throw UsageError(
        fmt::format("{} must be {}, not '{}': fix or unset the variable", variable, kind_text(spec), printable(text)));
  };
  switch (spec.kind) {
    case Kind::text:
      return {text, variable};
    case Kind::integer:
      if (auto v = parse_integer(text)) return {*v, variable};
      return wrong();
    case Kind::number:
      if (auto v = parse_number(text)) return {*v, variable};
      return wrong();
    case Kind::boolean:
      if (text == "true" || text == "1") return {true, variable};
      if (text == "false" || text == "0") return {false, variable};
      return wrong();
    case Kind::properties:
      return {parse_properties(text, variable), variable};
  }
  return wrong();
}

SettingLayer read_environment(const std::map<std::string, std::string>& environment,
                              std::vector<std::string>& warnings) {
  SettingLayer layer;
  std::vector<std::string> unknown;
  for (const auto& [name, text] : environment) {
    if (!name.starts_with("OUTBOX_")) continue;
    const SettingSpec* spec = nullptr;
    for (const auto& s : specs()) {
      if (environment_name(s.key) == name) spec = &s;
    }
    if (spec == nullptr) {
      unknown.push_back(name);
      continue;
    }
    // An empty variable counts as unset: env files and orchestrators write VAR= for "not given".
    if (text.empty()) continue;
    layer[spec->key] = from_environment(*spec, name, text);
  }
  if (!unknown.empty()) {
    std::string names;
    for (const auto& n : unknown) names += (names.empty() ? "" : ", ") + n;
    std::string known;
    for (const auto& s : specs()) known += (known.empty() ? "" : ", ") + environment_name(s.key);
    warnings.push_back(
        fmt::format("ignoring environment variables that name no relay setting: {} (the relay reads "
                    "{}); rename or unset them if they were meant for it",
                    names, known));
  }
  return layer;
}

// --- merging and checking -------------------------------------------------------------------------

template <class T>
const T& as(const GivenSetting& g) {
  return std::get<T>(g.value);
}

std::int64_t checked_integer(const SettingSpec& spec, const GivenSetting& g) {
  const auto v = as<std::int64_t>(g);
  if (static_cast<double>(v) < spec.min || static_cast<double>(v) > spec.max) {
    throw UsageError(fmt::format("{}: {} must be {}, not {}: correct it", g.origin, spec.key, range_text(spec), v));
  }
  return v;
}

double checked_number(const SettingSpec& spec, const GivenSetting& g) {
  const auto v = as<double>(g);
  if (!(v >= spec.min && v <= spec.max)) {
    throw UsageError(fmt::format("{}: {} must be {}, not {}: correct it", g.origin, spec.key, range_text(spec), v));
  }
  return v;
}

void check_name(const GivenSetting& g, const char* what) {
  try {
    check_identifier(as<std::string>(g), what);
  } catch (const UsageError& e) {
    throw UsageError(g.origin + ": " + e.what());
  }
}

// Applies one merged layer (key -> the value that won) to `s`.
void apply_settings(const SettingLayer& merged, RelaySettings& s) {
  for (const auto& [key, g] : merged) {
    const SettingSpec& spec = *find_spec(key);
    if (key == "store") s.store = as<std::string>(g);
    if (key == "outbox") {
      check_name(g, "outbox name");
      s.outbox = as<std::string>(g);
    }
    if (key == "sink") s.sink = as<std::string>(g);
    if (key == "consumer") {
      check_name(g, "consumer name");
      s.consumer = as<std::string>(g);
    }
    if (key == "batch_size") s.batch_size = checked_integer(spec, g);
    if (key == "max_in_flight") s.max_in_flight = checked_integer(spec, g);
    if (key == "max_attempts") s.max_attempts = checked_integer(spec, g);
    if (key == "shutdown_timeout") s.shutdown_timeout = checked_number(spec, g);
    if (key == "max_count") s.max_count = checked_integer(spec, g);
    if (key == "max_age") s.max_age = checked_number(spec, g);
    if (key == "hard_max_count") s.hard_max_count = checked_integer(spec, g);
    if (key == "retention_interval") s.retention_interval = checked_integer(spec, g);
    if (key == "lease_ttl") s.lease_ttl = checked_integer(spec, g);
    if (key == "checkpoint_interval_ms") s.checkpoint_interval_ms = checked_integer(spec, g);
    if (key == "poll") s.poll = as<bool>(g);
    if (key == "no_wait") s.no_wait = as<bool>(g);
  }
}

// Later layers win; sink properties merge name by name (the file names the client's settings, the
// environment adds the password).
SettingLayer merge(const std::vector<const SettingLayer*>& layers) {
  SettingLayer out;
  for (const auto* layer : layers) {
    for (const auto& [key, g] : *layer) {
      if (key == "sink_properties" && out.contains(key)) {
        auto& props = std::get<std::map<std::string, std::string>>(out[key].value);
        for (const auto& [name, value] : as<std::map<std::string, std::string>>(g)) props[name] = value;
        out[key].origin = g.origin;
        continue;
      }
      out[key] = g;
    }
  }
  return out;
}

std::string entry_name(const RelaySettings& s, std::size_t index, std::size_t count) {
  if (count == 1) return "the relay";
  return fmt::format("[[relay]] entry {} ({})", index + 1, s.defined_at);
}

void check_required(const SettingLayer& merged, const RelaySettings& s, std::size_t index, std::size_t count) {
  for (const char* key : {"store", "outbox", "sink"}) {
    const auto it = merged.find(key);
    if (it != merged.end() && !as<std::string>(it->second).empty()) continue;
    const SettingSpec& spec = *find_spec(key);
    throw UsageError(
        fmt::format("{} has no {}: give it with {} {}, the environment variable {}, or {} = \"...\" in "
                    "the config file (--config FILE)",
                    entry_name(s, index, count), key, spec.flag, key == std::string("outbox") ? "NAME" : "URI",
                    environment_name(key), key));
  }
}

void check_distinct(const std::vector<RelaySettings>& relays) {
  for (std::size_t i = 0; i < relays.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = relays[j];
      const auto& b = relays[i];
      if (a.outbox != b.outbox) continue;
      if (a.store == b.store && a.consumer == b.consumer) {
        throw UsageError(
            fmt::format("[[relay]] entries {} ({}) and {} ({}) both relay outbox '{}' to consumer '{}' of "
                        "the same store: one consumer has one relay; remove one entry or give it "
                        "another consumer",
                        j + 1, a.defined_at, i + 1, b.defined_at, a.outbox, a.consumer));
      }
      if (a.store != b.store) {
        // Metrics, logs and /readyz name a relay by outbox and consumer: two stores' outboxes of one
        // name could not be told apart there.
        throw UsageError(
            fmt::format("[[relay]] entries {} ({}) and {} ({}) relay outboxes named '{}' from two "
                        "different stores (or one store spelled two ways): metrics and health checks "
                        "name a relay by outbox and consumer, so the two could not be told apart; run "
                        "them in two relay processes, or spell the store URI the same way",
                        j + 1, a.defined_at, i + 1, b.defined_at, a.outbox));
      }
    }
  }
}

}  // namespace

const std::vector<std::string>& relay_setting_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& s : specs()) {
      if (s.scope != Scope::file) out.emplace_back(s.key);
    }
    return out;
  }();
  return keys;
}

std::string environment_name(const std::string& key) {
  std::string out = "OUTBOX_";
  for (char c : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) out.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

RelayConfig load_relay_config(const SettingLayer& flags, const std::map<std::string, std::string>& environment) {
  RelayConfig config;
  const SettingLayer env = read_environment(environment, config.warnings);

  // The file named by --config, else by OUTBOX_CONFIG.
  FileLayers file;
  for (const auto* layer : {&flags, &env}) {
    if (auto it = layer->find("config"); it != layer->end()) {
      config.config_file = as<std::string>(it->second);
      break;
    }
  }
  if (!config.config_file.empty()) file = read_file(config.config_file);
  const bool several = file.entries.size() > 1;
  if (file.entries.empty()) {
    file.entries.emplace_back();
    file.entry_at.emplace_back(config.config_file);
  }

  // Flags and variables apply to every entry: one outbox or consumer name for several would make
  // them the same relay.
  if (several) {
    for (const auto* layer : {&flags, &env}) {
      for (const char* key : {"outbox", "consumer"}) {
        if (auto it = layer->find(key); it != layer->end()) {
          throw UsageError(
              fmt::format("{} would set the {} of all {} [[relay]] entries of {} to '{}', making them one "
                          "relay: name the {} in each entry of the file instead, and remove {}",
                          it->second.origin, key, file.entries.size(), config.config_file, as<std::string>(it->second),
                          key, it->second.origin));
        }
      }
    }
  }

  const SettingLayer process = merge({&file.top, &env, &flags});
  if (auto it = process.find("metrics"); it != process.end()) {
    config.metrics = as<std::string>(it->second);
    config.metrics_origin = it->second.origin;
    parse_host_port(config.metrics, it->second.origin);  // throws, naming where the value came from
  }
  if (auto it = process.find("drain"); it != process.end()) config.drain = as<bool>(it->second);

  for (std::size_t i = 0; i < file.entries.size(); ++i) {
    SettingLayer merged = merge({&file.top, &file.entries[i], &env, &flags});
    RelaySettings s;
    s.defined_at = several ? file.entry_at[i] : "";
    for (const char* key : {"metrics", "drain", "config"}) merged.erase(key);
    check_required(merged, s, i, file.entries.size());
    apply_settings(merged, s);
    if (auto it = merged.find("sink_properties"); it != merged.end()) {
      s.sink_properties = as<std::map<std::string, std::string>>(it->second);
    }
    config.relays.push_back(std::move(s));
  }
  check_distinct(config.relays);
  return config;
}

}  // namespace outbox::cli

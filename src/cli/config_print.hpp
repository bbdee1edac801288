// `outbox config --print`: the effective relay configuration (after merging the file, the
// environment and the flags) as TOML that `outbox relay --config` reads back, with secrets shown as
// "***" so that the output may be pasted into a ticket: passwords in store and sink URIs, a
// webhook's query= (it often holds a token), and sink properties whose name says they are secret.
#pragma once

#include <string>

#include "relay_config.hpp"

namespace outbox::cli {

// A sink property whose value is shown as ***: its name contains password, secret, token or key.
bool is_secret_property(const std::string& name);

// `uri` with its password (redact_uri) and any query= value replaced by ***.
std::string redact_sink_uri(const std::string& uri);

std::string config_as_toml(const RelayConfig& config);

}  // namespace outbox::cli

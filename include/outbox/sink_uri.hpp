// A broker sink's URI, split the same way for every sink, SCHEME://[USERINFO@]AUTHORITY[/PATH][?K=V&...],
// and the value parsers the sinks share, so that their URIs follow one set of rules (and a new
// sink does not write its own). Each sink then checks its own parts (hosts, credentials, keys).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outbox {

struct SinkUriParts {
  std::optional<std::string> userinfo;  // before the last '@' of the authority, still %-encoded
  std::string authority;                // HOST:PORT[,HOST:PORT...]
  std::optional<std::string> path;      // after the first '/' ("" for a bare '/'); nullopt without one
  std::vector<std::pair<std::string, std::string>> params;  // in order; a key without '=' gets ""
};

// Throws UsageError "not a <what> URI: '...'" (the URI shortened and redacted) when `uri` does not
// start with `scheme` (e.g. "redis://").
SinkUriParts split_sink_uri(const std::string& uri, std::string_view scheme, const std::string& what);

// %XX escapes decoded (user names and passwords may hold '@', ':' or '/' that way). Throws
// UsageError naming `what` for a '%' not followed by two hex digits.
std::string percent_decode(std::string_view text, const std::string& what);

// A whole decimal number in [lo, hi]; otherwise UsageError naming `what` and the range.
std::int64_t parse_whole_number(std::string_view text, const std::string& what, std::int64_t lo, std::int64_t hi);

// "true" or "false"; otherwise UsageError naming `what`.
bool parse_true_false(std::string_view text, const std::string& what);

}  // namespace outbox

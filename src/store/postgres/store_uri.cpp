#include "store_uri.hpp"

#include <cctype>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::postgres::detail {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Applies one key=value item; true if it was the store's own (and must be removed).
bool take_option(const std::string& item, StoreUri& out, const std::string& redacted) {
  const auto eq = item.find('=');
  const std::string key = lower(item.substr(0, eq));
  if (key.rfind("outbox", 0) != 0) return false;
  if (key != "outboxmode") {
    throw UsageError("unknown store URI option '" + item.substr(0, eq) + "' in '" + redacted +
                     "'; this store knows outboxMode (table or wal)");
  }
  out.mode = parse_mode(eq == std::string::npos ? "" : item.substr(eq + 1));
  return true;
}

}  // namespace

StoreUri parse_store_uri(const std::string& uri) {
  StoreUri out;
  const std::string redacted = redact_uri(uri);
  if (uri.starts_with("postgresql://") || uri.starts_with("postgres://")) {
    const auto q = uri.find('?');
    if (q == std::string::npos) {
      out.conninfo = uri;
      return out;
    }
    std::vector<std::string> kept;
    const std::string query = uri.substr(q + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
      auto amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      const std::string item = query.substr(start, amp - start);
      start = amp + 1;
      // Empty items are kept, so that libpq judges the query as written ("a&&b" it refuses).
      if (item.empty() || !take_option(item, out, redacted)) kept.push_back(item);
    }
    out.conninfo = uri.substr(0, q);
    for (std::size_t i = 0; i < kept.size(); ++i) out.conninfo += (i == 0 ? "?" : "&") + kept[i];
    return out;
  }
  // key=value conninfo: an unquoted outboxMode=... item between spaces (values never need quotes).
  std::size_t i = 0;
  std::string rest;
  while (i < uri.size()) {
    if (std::isspace(static_cast<unsigned char>(uri[i]))) {
      rest += uri[i++];
      continue;
    }
    std::size_t j = i;
    bool quoted = false;
    while (j < uri.size() && (quoted || !std::isspace(static_cast<unsigned char>(uri[j])))) {
      if (uri[j] == '\\' && j + 1 < uri.size()) {
        j += 2;
        continue;
      }
      if (uri[j] == '\'') quoted = !quoted;
      ++j;
    }
    const std::string item = uri.substr(i, j - i);
    if (!take_option(item, out, redacted)) rest += item;
    i = j;
  }
  out.conninfo = rest;
  return out;
}

}  // namespace outbox::postgres::detail

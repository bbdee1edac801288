// postgresql://... URIs and libpq key=value conninfo strings in the scheme table.
#include <cctype>

#include "outbox/postgres.hpp"
#include "outbox/scheme.hpp"
#include "store_uri.hpp"

namespace outbox::postgres {

namespace {

// A URI, or a key=value conninfo: a keyword, optional spaces, then '=' (plain scanning: a regex
// here recursed per character and crashed on very long strings).
bool accepts(std::string_view uri) {
  if (uri.starts_with("postgresql://") || uri.starts_with("postgres://")) return true;
  std::size_t i = 0;
  while (i < uri.size() && std::isspace(static_cast<unsigned char>(uri[i]))) ++i;
  const std::size_t keyword = i;
  while (i < uri.size() && (std::isalpha(static_cast<unsigned char>(uri[i])) || uri[i] == '_')) ++i;
  if (i == keyword) return false;
  while (i < uri.size() && std::isspace(static_cast<unsigned char>(uri[i]))) ++i;
  return i < uri.size() && uri[i] == '=';
}

std::unique_ptr<Store> open_uri(const std::string& uri, const StoreOptions& options) { return open(uri, options); }

std::string ddl(const std::string& uri, const std::string& outbox) {
  return init_sql(outbox, detail::parse_store_uri(uri).mode.value_or(Mode::table));
}

}  // namespace

const StoreScheme store_scheme{"postgres", "postgresql://... (or a libpq conninfo such as 'host=... dbname=...')",
                               accepts, open_uri, ddl};

}  // namespace outbox::postgres

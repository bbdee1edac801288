// The PostgreSQL store's own URI options, removed before libpq sees the URI (libpq refuses
// parameters it does not know).
#pragma once

#include <optional>
#include <string>

#include "outbox/postgres.hpp"

namespace outbox::postgres::detail {

struct StoreUri {
  std::string conninfo;      // what libpq gets
  std::optional<Mode> mode;  // outboxMode=table|wal
};

// Takes `outboxMode=...` out of a postgresql:// URI's query or a key=value conninfo. Throws
// UsageError for an unknown mode or another outbox* option.
StoreUri parse_store_uri(const std::string& uri);

}  // namespace outbox::postgres::detail

// WAL mode: what a consumer has not passed yet, for `status` (lag in messages, age of the oldest
// unpublished message). A WAL-mode outbox has no table to count; the messages a consumer has not
// passed are what its replication slot still holds past the consumer's checkpoint. They are read
// from a temporary copy of the slot (the consumer's own slot is streamed by its relay and must not
// move), decoded by the server up to the current WAL position, then the copy is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <libpq-fe.h>

#include "outbox/message.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres::detail {

struct WalBacklog {
  std::int64_t messages = 0;                // the outbox's committed messages past the checkpoint
  std::optional<Timestamp> oldest_created;  // the earliest `created` among them (the put's time)
  // false: decoding stopped after `max_changes` changes, so `messages` is a lower bound (the
  // oldest message is still the oldest, unless that many changes of other prefixes came first).
  bool complete = true;
};

// Decodes at most `max_changes` changes (pgoutput messages: begin, message, commit, of any
// prefix) that `slot` holds, on `conn` (outside a transaction; the role needs the REPLICATION
// privilege), and keeps the messages of `outbox` that `from` has not passed. Throws StoreError.
WalBacklog read_wal_backlog(PGconn* conn, const std::string& outbox, const std::string& slot, const WalCheckpoint& from,
                            std::size_t max_changes);

}  // namespace outbox::postgres::detail

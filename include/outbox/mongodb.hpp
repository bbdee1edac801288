// The MongoDB store, write side. Three modes, chosen per outbox when it is created (see
// docs/mongodb.md):
//   transactional - put(session, m) inside the caller's transaction; tailed through a change stream.
//                   Needs a replica set or a sharded cluster.
//   poll          - put(client, m) without a transaction; each message gets a server-assigned
//                   position; tailed by position with a no-skip guarantee. Any server.
//   capped        - put(client, m) into a capped collection (the seed's design), tailed with a
//                   tailable awaitData cursor; the oldest documents roll off when it is full.
// <mongoc/mongoc.h> stays out of this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"

typedef struct _mongoc_client_t mongoc_client_t;                  // from <mongoc/mongoc.h>
typedef struct _mongoc_client_session_t mongoc_client_session_t;  // from <mongoc/mongoc.h>

namespace outbox::mongodb {

enum class Mode { transactional, poll, capped };

// "transactional", "poll", "capped".
std::string to_string(Mode mode);
// Inverse of to_string; throws UsageError naming the accepted values.
Mode parse_mode(const std::string& text);

// How an outbox is created. Only `init` reads these; later the outbox's stored settings apply.
struct OutboxOptions {
  Mode mode = Mode::transactional;
  // Capped mode: the collection's size in bytes and (optionally) its document count limit.
  std::int64_t capped_size_bytes = 64 * 1024 * 1024;
  std::optional<std::int64_t> capped_max_documents;
  // Transactional mode only (init refuses it elsewhere): a TTL index on `created` that lets the
  // server delete messages older than this, published or not (a backstop; the relay's retention
  // deletes only what every consumer has passed). In poll mode it could free a position that a
  // late writer would then fill behind the tails.
  std::optional<std::chrono::seconds> ttl;
};

class Outbox;

// An outbox bound to a session (transactional mode: puts join the session's transaction) or to a
// client (poll and capped modes): what MessageSet::put (outbox/typed.hpp) and other code written
// for any store take, as with sqlite::Writer and postgres::Writer. The outbox and the session or
// client must outlive it.
class Writer {
 public:
  // Outbox::put on the bound session or client.
  Message put(Message m);

 private:
  friend class Outbox;
  Writer(const Outbox& outbox, mongoc_client_session_t* session, mongoc_client_t* client)
      : outbox_(&outbox), session_(session), client_(client) {}
  const Outbox* outbox_;
  mongoc_client_session_t* session_;  // exactly one of the two is set
  mongoc_client_t* client_;
};

// A named outbox in one database, with the schema registry of its message types.
class Outbox {
 public:
  Outbox(std::string database, std::string name, SchemaRegistry registry, OutboxOptions options = {});

  // Creates the outbox's collection (capped in capped mode), its indexes and the store's
  // bookkeeping collections, and records the mode. Idempotent for the same mode; UsageError if the
  // outbox exists with another mode, or if the server lacks what the mode needs.
  void init(mongoc_client_t* client) const { init(client, options_); }
  // The same with other options than the constructor's.
  void init(mongoc_client_t* client, const OutboxOptions& options) const;

  // Transactional mode: validates `m`, fills id/created when empty, and inserts it in the caller's
  // started transaction (UsageError without one). A TransientTransactionError (e.g. WriteConflict)
  // is a retryable StoreError: abort and retry the whole transaction.
  Message put(mongoc_client_session_t* session, Message m) const;

  // Poll and capped modes: validates `m`, fills id/created when empty, takes the next position of
  // the outbox and inserts the document (three round trips: read the high-water mark, insert,
  // raise it; no transaction). Returns the message with its position. ValidationError before
  // anything is sent. UsageError for a transactional outbox.
  // Failures that may pass (network, a busy server) are retried inside, a few times. After a
  // StoreError the message may or may not have been written (as for any write whose answer was
  // lost); putting it again with the same id is refused as a duplicate if it was.
  // CommitInDoubt: the message was written but its last step (raising the high-water mark)
  // failed even after retries; it will most likely be delivered: look the id up rather than
  // putting it again.
  Message put(mongoc_client_t* client, Message m) const;
  // The puts above, as objects (see Writer).
  Writer writer(mongoc_client_session_t* session) const { return Writer(*this, session, nullptr); }
  Writer writer(mongoc_client_t* client) const { return Writer(*this, nullptr, client); }

  const std::string& database() const noexcept { return database_; }
  const std::string& name() const noexcept { return name_; }
  const SchemaRegistry& registry() const noexcept { return registry_; }

 private:
  std::string database_;
  std::string name_;
  SchemaRegistry registry_;
  OutboxOptions options_;  // for init
  // The mode, read from the outbox's settings on the first put and cached. Atomic because puts
  // from several threads may share one Outbox (a plain optional here was a data race); a mode
  // never changes after init, so threads that both read it store the same value.
  class CachedMode {
   public:
    CachedMode() = default;
    CachedMode(const CachedMode& other) : value_(other.value_.load()) {}
    CachedMode& operator=(const CachedMode& other) {
      value_.store(other.value_.load());
      return *this;
    }
    std::optional<Mode> get() const {
      const int v = value_.load(std::memory_order_acquire);
      return v < 0 ? std::nullopt : std::optional<Mode>(static_cast<Mode>(v));
    }
    void set(Mode mode) const { value_.store(static_cast<int>(mode), std::memory_order_release); }

   private:
    mutable std::atomic<int> value_{-1};
  };
  CachedMode mode_;
};

// The relay/CLI side: a Store over a client pool of its own (each thread borrows a client).
// `uri` is a mongodb:// (or mongodb+srv://) URI as libmongoc parses it; its path names the
// database (default "outbox"). Options of this store, removed before libmongoc sees the URI:
//   outboxMode=transactional|poll|capped  the mode `init` creates an outbox with (default
//                                         transactional); elsewhere it must match the stored mode
//   outboxCappedSize=BYTES, outboxCappedMax=DOCS   capped mode's collection limits (init)
//   outboxTtlSeconds=N                    TTL index on `created` (init)
//   outboxGapTimeoutMS=N                  poll mode: how long a tail waits for a position that was
//                                         taken but is not yet visible before closing it (1000)
std::unique_ptr<Store> open(const std::string& uri, const StoreOptions& options = {});

extern const StoreScheme store_scheme;  // mongodb://..., for the scheme table

}  // namespace outbox::mongodb

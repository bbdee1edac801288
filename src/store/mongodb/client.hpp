// A thin RAII layer over libmongoc, private to the MongoDB store's core: the client pool, borrowed
// clients, collections and cursors are released on destruction; every driver error becomes a
// StoreError saying whether a retry may help.
#pragma once

#include <mongoc/mongoc.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bson.hpp"

namespace outbox::mongodb::detail {

// Server error codes the store reacts to.
constexpr std::uint32_t kDuplicateKey = 11000;
constexpr std::uint32_t kCappedPositionLost = 136;
constexpr std::uint32_t kCursorNotFound = 43;
constexpr std::uint32_t kNamespaceExists = 48;
constexpr std::uint32_t kCommandNotFound = 59;

// Throws StoreError for `error` while `doing` (retryable for network, selection and
// primary-change errors). `reply` (may be null) adds the server's error labels.
[[noreturn]] void fail(const bson_error_t& error, const std::string& doing, const bson_t* reply = nullptr);
bool is_retryable(const bson_error_t& error, const bson_t* reply);
bool is_duplicate_key(const bson_error_t& error);
// The server ended a tailable cursor (its place was overwritten, it was killed, or FerretDB closed
// its iterator under a waiting getMore): reopening after the last position read is all it takes.
bool is_cursor_ended(const bson_error_t& error);

// The store's own URI options, taken out of the URI before libmongoc parses it.
struct StoreUri {
  std::string driver_uri;  // what libmongoc sees
  std::string redacted;    // for logs and errors
  std::string database;
  std::optional<std::string> mode;
  std::optional<std::int64_t> capped_size, capped_max, ttl_seconds, gap_timeout_ms;
};
// Throws UsageError for a malformed URI or option value (never showing a password).
StoreUri parse_store_uri(const std::string& uri);

struct Capabilities {
  bool replica_set = false;  // hello has setName
  bool sharded = false;      // mongos
  bool ferretdb = false;     // buildInfo names a FerretDB version
  int max_wire_version = 0;
  std::string server;  // e.g. "FerretDB 1.24.2" or "MongoDB 7.0.5 (replica set rs0)"
  bool transactions() const { return (replica_set && max_wire_version >= 7) || (sharded && max_wire_version >= 8); }
  bool change_streams() const { return (replica_set || sharded) && max_wire_version >= 6; }
};
Capabilities detect_capabilities(mongoc_client_t* client, const std::string& redacted_uri);

// A client pool (mongoc_client_t is not thread-safe; each thread borrows its own).
class Pool {
 public:
  explicit Pool(const StoreUri& uri);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();
  mongoc_client_pool_t* get() const { return pool_; }

 private:
  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
};

// A client borrowed from a pool for the lifetime of this object.
class PooledClient {
 public:
  explicit PooledClient(const Pool& pool) : pool_(pool.get()), client_(mongoc_client_pool_pop(pool_)) {}
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;
  ~PooledClient() { mongoc_client_pool_push(pool_, client_); }
  mongoc_client_t* get() const { return client_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

class Collection {
 public:
  Collection(mongoc_client_t* client, const std::string& database, const std::string& name)
      : c_(mongoc_client_get_collection(client, database.c_str(), name.c_str())), name_(name) {}
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;
  ~Collection() { mongoc_collection_destroy(c_); }
  mongoc_collection_t* get() const { return c_; }
  const std::string& name() const { return name_; }

  // Each throws StoreError on failure; `doing` names the operation for the message.
  void insert(const bson_t& doc, const std::string& doing) const;
  // Returns false instead of throwing when the insert hit a unique index.
  bool insert_unless_duplicate(const bson_t& doc, const std::string& doing) const;
  // Returns the number of matched documents.
  std::int64_t update_one(const bson_t& filter, const bson_t& update, bool upsert, const std::string& doing) const;
  std::int64_t delete_many(const bson_t& filter, const std::string& doing) const;
  std::int64_t count(const bson_t& filter, const std::string& doing) const;
  // The first document matching `filter` in `sort` order (empty sort = any), or nothing.
  std::optional<Bson> find_one(const bson_t& filter, const bson_t* sort, const std::string& doing) const;
  // findAndModify returning the new document (nullopt when nothing matched and upsert is false).
  std::optional<Bson> find_and_modify(const bson_t& filter, const bson_t& update, bool upsert,
                                      const std::string& doing) const;

 private:
  mongoc_collection_t* c_;
  std::string name_;
};

class MongoCursor {
 public:
  explicit MongoCursor(mongoc_cursor_t* c) : c_(c) {}
  MongoCursor(MongoCursor&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  MongoCursor& operator=(MongoCursor&& o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  MongoCursor(const MongoCursor&) = delete;
  ~MongoCursor() {
    if (c_) mongoc_cursor_destroy(c_);
  }
  mongoc_cursor_t* get() const { return c_; }
  // The next document (valid until the next call), or null at the end of what is available;
  // throws StoreError if the cursor failed.
  const bson_t* next(const std::string& doing);

 private:
  mongoc_cursor_t* c_;
};

// Runs a command on `database`; throws StoreError.
Bson command(mongoc_client_t* client, const std::string& database, const bson_t& cmd, const std::string& doing);

// Small readers for documents the store wrote (missing or mistyped -> fallback).
std::int64_t get_int64(const bson_t& doc, const char* field, std::int64_t fallback = 0);
std::optional<std::string> get_string(const bson_t& doc, const char* field);
bool has_field(const bson_t& doc, const char* field);

// Milliseconds and microseconds on this host's clock.
std::int64_t now_ms();

}  // namespace outbox::mongodb::detail

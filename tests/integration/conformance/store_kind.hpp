// One parameter of the store conformance suite: a kind of store (a backend, or a mode of one), what
// it can do, and how to get a fresh, empty database of it on the server its ctest fixture started.
//
// The suite talks to a store only through outbox::Store (outbox::open_store(uri())). Writes inside
// a caller's transaction are not part of that interface (each store has its own write-side API on
// the caller's connection), so a Backend adapts them.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "outbox/message.hpp"

namespace conformance {

// How retention by age picks what is old.
enum class AgeRule {
  // Every message older than the limit (that every consumer has passed) goes.
  every_message,
  // Only the oldest messages up to the first one younger than the limit go: the store walks from the
  // oldest and stops there, so an old message behind a newer one stays until the newer one goes.
  oldest_prefix,
};

// Where a store legitimately differs. The suite checks each store against its own entry; a
// difference is stated here with the reason, never by weakening a check.
struct Capabilities {
  // Writes join the caller's transaction, so a rolled-back put is never delivered.
  bool caller_transactions = true;
  // enforce_retention deletes by count, by age and by a hard limit. When false it must delete
  // nothing and drop nothing.
  bool retention = true;
  AgeRule age_rule = AgeRule::every_message;
  // Retention never deletes the newest message, even when every consumer passed it: the store's
  // positions are rowids that would otherwise be handed out again (SQLite without AUTOINCREMENT).
  bool keeps_newest = false;
};

// A transaction of the caller's on the store's own write-side API. Destroying it without commit()
// rolls it back.
class Transaction {
 public:
  virtual ~Transaction() = default;
  // Puts `m` (into the outbox m.outbox names); returns it with its id, created time and position.
  virtual outbox::Message put(outbox::Message m) = 0;
  virtual void commit() = 0;
};

// A fresh database of one kind of store, dropped when destroyed.
class Backend {
 public:
  virtual ~Backend() = default;
  // For outbox::open_store and the CLI's --store.
  virtual std::string uri() const = 0;
  // Only for kinds with Capabilities::caller_transactions.
  virtual std::unique_ptr<Transaction> begin() = 0;
  // Puts `messages` and commits them: in one transaction of the caller where the store has them,
  // else one by one. Returns them as put() did.
  virtual std::vector<outbox::Message> commit(std::vector<outbox::Message> messages);
};

struct StoreKind {
  std::string name;  // the test name suffix and the ctest filter: sqlite, postgres, mongodb_poll, ...
  Capabilities can;
  std::function<std::unique_ptr<Backend>()> open;  // a fresh database on the running server
};

// Every kind this build has (the backends it was configured with).
std::vector<StoreKind> store_kinds();

// The kinds of each backend, defined in <backend>_backend.cpp.
std::vector<StoreKind> sqlite_kinds();
std::vector<StoreKind> postgres_kinds();
std::vector<StoreKind> mongodb_kinds();

// A database name no other test (of this process or another) uses at the same time.
std::string unique_database_name();

inline void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

}  // namespace conformance

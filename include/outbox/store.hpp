// The seam between the relay (and CLI) and a database. One implementation per database lives in
// src/store/<name>/. Writing from service code goes through each store's own header (e.g.
// outbox/sqlite.hpp), because it must use the caller's connection and transaction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/message.hpp"
#include "outbox/schema.hpp"

namespace outbox {

// Where a tail starts. `checkpoint` is a store-encoded token: delivery starts after it.
struct Cursor {
  enum class Kind { beginning, end, after };
  Kind kind = Kind::beginning;
  std::string checkpoint;

  static Cursor beginning() { return {Kind::beginning, {}}; }
  static Cursor end() { return {Kind::end, {}}; }
  static Cursor after(std::string checkpoint) { return {Kind::after, std::move(checkpoint)}; }
};

// A live stream of committed messages in delivery order. Destroying it releases its resources.
class Tail {
 public:
  virtual ~Tail() = default;
  // Returns the next messages (at most the tail's batch size), waiting up to `wait` for a commit
  // when none is ready. Returns an empty batch on timeout and once closed.
  virtual std::vector<Message> next(std::chrono::milliseconds wait) = 0;
  // Safe from any thread (not from a signal handler); wakes a blocked next().
  virtual void close() = 0;
  virtual bool closed() const = 0;
  // A checkpoint the relay may save although no message was delivered: it lies after every
  // message this tail has returned and before every message it has not. Valid only when nothing
  // returned is still in flight (the relay asks after an empty next() with an empty window).
  // Tails whose position only moves with messages keep the default. The MongoDB change-stream
  // tail returns its post-batch resume token, so an idle consumer's saved token keeps up with the
  // oplog instead of falling out of it.
  virtual std::optional<std::string> idle_checkpoint() { return std::nullopt; }
};

struct TailOptions {
  std::size_t batch_size = 1000;
  // Upper bound on one wait between re-checks, in case a wake-up was missed (never needed when
  // the store's notification works; it bounds the damage if it does not).
  std::chrono::milliseconds recheck_interval{1000};
  // false: leave Message::data null and fill only Message::data_json (the relay does this: sinks
  // forward the stored text, and parsing every message would cost more than reading it).
  bool parse_data = true;
  // The consumer this tail reads for (the relay sets it), empty for an ad-hoc reader. Stores whose
  // position lives on the server per consumer use it: PostgreSQL's WAL mode streams that
  // consumer's replication slot.
  std::string consumer;
};

struct ConsumerStatus {
  std::string name;
  std::string checkpoint;                // store-encoded
  std::optional<std::int64_t> position;  // last position passed, when the store has integer positions
  std::int64_t lag_messages = 0;         // committed messages not yet passed
  double lag_seconds = 0;                // age of the oldest message not yet passed (0 if none)
  // true: lag_messages stopped at a bound and the consumer lags at least that much (PostgreSQL's
  // WAL mode counts what the consumer's slot holds by decoding it, up to 10,000 changes).
  bool lag_messages_at_least = false;
  std::optional<Timestamp> updated;  // last checkpoint save or lease renewal
  std::string owner;                 // relay holding the lease, if any
  bool lease_active = false;
  std::string health;  // what the relay last reported ("ok", or its last error)
  // PostgreSQL WAL mode: the WAL the consumer's replication slot keeps (bytes from its restart
  // position to the server's current one); it grows while nobody reads the slot.
  std::optional<std::int64_t> retained_wal_bytes;
};

struct OutboxStatus {
  std::string name;
  std::int64_t count = 0;
  std::optional<std::int64_t> oldest_position, newest_position;
  std::optional<Timestamp> oldest_created, newest_created;
  std::vector<ConsumerStatus> consumers;
  std::int64_t dead_letters = 0;
  std::int64_t dropped = 0;  // unpublished messages removed by a hard retention limit
};

// Bounded retention, like the seed's capped collection but safe: messages a registered consumer
// has not passed are kept unless `hard_max_count` forces them out (then they are counted).
struct RetentionPolicy {
  std::optional<std::int64_t> max_count;        // keep at most this many passed messages
  std::optional<std::chrono::seconds> max_age;  // delete passed messages older than this
  std::optional<std::int64_t> hard_max_count;   // absolute cap, even over unpublished messages
  std::size_t batch_size = 1000;                // rows per DELETE transaction
};

struct RetentionResult {
  std::int64_t deleted = 0;
  std::int64_t dropped_unpublished = 0;
};

struct DeadLetter {
  std::int64_t id = 0;
  std::string consumer;
  Message message;
  std::string error;
  int attempts = 0;
  Timestamp failed_at{};
};

// Which dead letters Store::replay_dead_letters and Store::purge_dead_letters act on: those that
// match every field given (all of the outbox's dead letters when none is).
struct DeadLetterFilter {
  std::optional<std::int64_t> id;                  // this dead letter only
  std::optional<std::string> consumer;             // only this consumer's
  std::optional<std::chrono::seconds> older_than;  // only those that failed at least this long ago
};

// One dead letter that a replay put back into the stream (and removed from the dead letters).
struct ReplayedDeadLetter {
  std::int64_t id = 0;  // the dead letter's id
  std::string consumer;
  std::string message_id;
  std::int64_t original_position = 0;  // where the message was when it was dead-lettered
  std::int64_t new_position = 0;       // where the replayed copy is now (0: a mode without positions)
};

// Replaying or purging dead letters (which must not run beside a relay) found a relay holding the
// lease of a consumer involved. Nothing was changed.
class ConsumerInUse : public UsageError {
 public:
  ConsumerInUse(const std::string& what, std::string consumer, std::string owner)
      : UsageError(what), consumer_(std::move(consumer)), owner_(std::move(owner)) {}
  const std::string& consumer() const noexcept { return consumer_; }
  const std::string& owner() const noexcept { return owner_; }

 private:
  std::string consumer_;
  std::string owner_;
};

// A relay's consumer of an outbox, and the relay instance (owner) that holds or asks for its lease.
struct ConsumerRef {
  std::string outbox;
  std::string consumer;
  std::string owner;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates what the outbox needs; idempotent.
  virtual void init(const std::string& outbox) = 0;
  virtual std::vector<std::string> outboxes() = 0;

  // Validates and writes one message in a transaction of its own (the CLI's `put`).
  virtual Message put(const SchemaRegistry& registry, Message m) = 0;

  virtual std::unique_ptr<Tail> tail(const std::string& outbox, const Cursor& from,
                                     const TailOptions& options = {}) = 0;
  // The checkpoint that makes `position` the next message delivered.
  virtual std::string checkpoint_before(std::int64_t position) = 0;
  // The checkpoint just past the newest committed message (for `seek --to end`).
  virtual std::string checkpoint_at_end(const std::string& outbox) = 0;

  // Takes (or renews) the lease of `consumer` for `owner`; returns the saved checkpoint, if any.
  // Throws LeaseLost while another owner holds an unexpired lease.
  virtual std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) = 0;
  // Saves the checkpoint and renews the lease; throws LeaseLost if `owner` no longer holds it.
  virtual void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                               const std::string& health) = 0;
  // true: save_checkpoint and enforce_retention may run on another thread at the same time as this
  // store's other calls (tail(), dead_letter(), ...) and its tails' next(). The relay then makes
  // these writes from a thread of its own, so that a write waiting for the database (a busy SQLite
  // writer holds the write lock) does not hold up delivery. It never runs two of them at once, nor
  // one beside acquire() or release(). false (the default, for stores that do not say): the relay
  // writes on its own thread, between reads.
  virtual bool concurrent_relay_writes() const { return false; }
  virtual void release(const ConsumerRef& ref) = 0;
  // Moves a consumer's checkpoint (replay or skip); refuses while a relay holds its lease.
  virtual void seek(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) = 0;

  virtual void dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) = 0;
  virtual std::vector<DeadLetter> dead_letters(const std::string& outbox, std::size_t limit) = 0;

  // Puts the chosen dead letters back into the outbox for their own consumer only, in the order of
  // their original positions, after every message committed so far: each becomes a new message
  // (same id, type, key, data, created time and headers, plus the replay headers of
  // outbox/replay.hpp, which make every other consumer's relay pass over it). The dead letter is
  // removed in the same transaction as the append (where the store has transactions; see
  // docs/operations.md), so a second replay finds nothing to replay. Returns what was replayed,
  // in that order. Unless `force`, throws ConsumerInUse (nothing changed) while a relay holds the
  // lease of a consumer whose dead letters were chosen.
  virtual std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                              bool force) = 0;
  // Deletes the chosen dead letters; returns them (ordered by id). Same lease rule as replay.
  virtual std::vector<DeadLetter> purge_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                     bool force) = 0;

  virtual RetentionResult enforce_retention(const std::string& outbox, const RetentionPolicy& policy) = 0;
  virtual OutboxStatus status(const std::string& outbox) = 0;
};

struct StoreOptions {
  std::chrono::milliseconds busy_timeout{5000};
  // true: an idle tail sleeps until a writer wakes it (PostgreSQL: a NOTIFY that puts send only
  // while a tail sleeps). false: tails poll every 1-100 ms instead, for outboxes also written by
  // programs that send no wake-ups (plain INSERTs). SQLite ignores it: inotify sees every writer.
  bool wakeups = true;
};

// Opens a store by URI through the scheme table of this build (outbox/scheme.hpp; sqlite:PATH,
// postgresql://..., mongodb://...). Throws UsageError for an unknown or malformed URI, naming the
// schemes this build supports. Defined in outbox::outbox (the umbrella library).
std::unique_ptr<Store> open_store(const std::string& uri, const StoreOptions& options = {});

// The URI with any password replaced by "***", for logs and errors.
std::string redact_uri(const std::string& uri);
// redact_uri, cut to 200 characters (with the full length) so that a huge URI cannot flood a log.
std::string shorten_uri(const std::string& uri);

}  // namespace outbox

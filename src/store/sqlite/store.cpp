// The relay/CLI side of the SQLite store: tails, checkpoints with leases, dead letters, retention
// and status, on a connection of its own.
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "outbox/replay.hpp"
#include "outbox/sqlite.hpp"
#include "tables.hpp"
#include "tail.hpp"

namespace outbox::sqlite {

namespace {

using detail::Statement;
using detail::Transaction;

std::int64_t micros(Timestamp t) { return t.time_since_epoch().count(); }

std::int64_t parse_checkpoint(const std::string& checkpoint) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(checkpoint, &used);
    if (used == checkpoint.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("'" + checkpoint + "' is not an SQLite checkpoint (a position, 0 or more)");
}

class SqliteStore final : public Store {
 public:
  // Only init() creates the database file: any other command on a mistyped path would otherwise
  // leave an empty database behind and report "no outboxes". A missing file is opened lazily, so
  // that the error comes from the first operation that needs it (and init can still create it).
  SqliteStore(std::string path, const StoreOptions& options)
      : path_(std::move(path)), busy_ms_(static_cast<int>(options.busy_timeout.count())) {
    if (::access(path_.c_str(), F_OK) == 0) connect(false);
  }

  void init(const std::string& outbox) override {
    check_identifier(outbox, "outbox name");
    std::lock_guard lock(mutex_);
    if (!db_) connect(true);
    // Many processes initialising one new database at once collide on the switch to WAL, which
    // SQLite's busy handler does not wait for: retry the whole (idempotent) init for a while.
    detail::retry_while_busy(
        [&] {
          db().exec("PRAGMA journal_mode=WAL");
          Transaction t(db().get());
          db().exec(detail::create_sql(outbox));
          t.commit();
        },
        std::chrono::milliseconds(busy_ms_));
  }

  std::vector<std::string> outboxes() override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    if (!has_table("outbox__outboxes")) return out;
    Statement s(db().get(), "SELECT name FROM outbox__outboxes ORDER BY name");
    while (s.step()) out.push_back(s.text(0));
    return out;
  }

  Message put(const SchemaRegistry& registry, Message m) override {
    const std::string outbox = m.outbox;
    check_known(outbox);
    std::lock_guard lock(mutex_);
    db().exec("PRAGMA synchronous=FULL");  // a message the caller was told is written must survive power loss
    struct Restore {
      detail::Connection& db;
      ~Restore() { sqlite3_exec(db.get(), "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr); }
    } restore{db()};
    Transaction t(db().get());
    Statement insert(db().get(), detail::insert_sql(outbox));
    detail::insert_message(db().get(), insert, outbox, registry, m);
    t.commit();
    return m;
  }

  std::unique_ptr<Tail> tail(const std::string& outbox, const Cursor& from, const TailOptions& options) override {
    check_known(outbox);
    std::int64_t after = 0;
    if (from.kind == Cursor::Kind::after) after = parse_checkpoint(from.checkpoint);
    if (from.kind == Cursor::Kind::end) after = parse_checkpoint(checkpoint_at_end(outbox));
    return std::make_unique<detail::SqliteTail>(path_, busy_ms_, outbox, after, options);
  }

  std::string checkpoint_before(std::int64_t position) override {
    return std::to_string(std::max<std::int64_t>(0, position - 1));
  }

  std::string checkpoint_at_end(const std::string& outbox) override {
    check_known(outbox);
    std::lock_guard lock(mutex_);
    // The newest row is never deleted (see enforce_retention), so its position is the largest
    // handed out. Outbox tables made by earlier versions have AUTOINCREMENT, whose sqlite_sequence
    // row also counts the positions of rows their retention deleted then.
    Statement s(db().get(), "SELECT MAX(COALESCE((SELECT MAX(position) FROM " + detail::message_table(outbox) +
                                "), 0), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0))");
    s.bind(1, std::string_view("outbox_" + outbox));
    return std::to_string(s.step() ? s.int64(0) : 0);
  }

  std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    check_identifier(consumer, "consumer name");
    check_known(outbox);
    std::lock_guard lock(mutex_);
    const std::int64_t now_us = micros(now());
    Transaction t(db().get());
    Statement s(db().get(),
                "SELECT position, owner, lease_until_us FROM outbox__consumers WHERE outbox = ?1 AND consumer = ?2");
    s.bind(1, std::string_view(outbox)).bind(2, std::string_view(consumer));
    std::optional<std::string> checkpoint;
    if (s.step()) {
      checkpoint = std::to_string(s.int64(0));
      const std::string holder = s.is_null(1) ? "" : s.text(1);
      const std::int64_t until = s.is_null(2) ? 0 : s.int64(2);
      if (!holder.empty() && holder != owner && until > now_us) {
        throw LeaseLost("consumer '" + consumer + "' of outbox '" + outbox + "' is held by relay '" + holder +
                        "' for another " + std::to_string((until - now_us) / 1000) +
                        " ms; stop that relay, or use another consumer name");
      }
    }
    s.reset();
    Statement up(db().get(),
                 "INSERT INTO outbox__consumers (outbox, consumer, position, owner, lease_until_us, updated_us, health)"
                 " VALUES (?1, ?2, 0, ?3, ?4, ?5, 'starting') ON CONFLICT (outbox, consumer) DO UPDATE SET"
                 " owner = excluded.owner, lease_until_us = excluded.lease_until_us, updated_us = excluded.updated_us,"
                 " health = excluded.health");
    up.bind(1, std::string_view(outbox)).bind(2, std::string_view(consumer)).bind(3, std::string_view(owner));
    up.bind(4, now_us + ttl.count() * 1'000'000).bind(5, now_us);
    up.run();
    t.commit();
    return checkpoint;
  }

  // Saves and retention use this store's connection under mutex_ (like dead_letter); every tail
  // reads on a connection of its own (the connections are opened SQLITE_OPEN_NOMUTEX: one thread
  // at a time each, which mutex_ and the tail's single reader guarantee).
  bool concurrent_relay_writes() const override { return true; }

  void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    const std::int64_t position = parse_checkpoint(checkpoint);
    std::lock_guard lock(mutex_);
    const std::int64_t now_us = micros(now());
    if (!save_) {
      save_ = Statement(db().get(),
                        "UPDATE outbox__consumers SET position = ?1, lease_until_us = ?2, updated_us = ?3,"
                        " health = ?4 WHERE outbox = ?5 AND consumer = ?6 AND owner = ?7",
                        true);
    }
    save_->bind(1, position).bind(2, now_us + ttl.count() * 1'000'000).bind(3, now_us);
    save_->bind(4, std::string_view(health)).bind(5, std::string_view(outbox));
    save_->bind(6, std::string_view(consumer)).bind(7, std::string_view(owner));
    save_->run();
    if (sqlite3_changes(db().get()) == 0) {
      throw LeaseLost("relay '" + owner + "' no longer holds consumer '" + consumer + "' of outbox '" + outbox +
                      "' (another relay took it over, or it was reset); this relay stops");
    }
  }

  void release(const ConsumerRef& ref) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    std::lock_guard lock(mutex_);
    Statement s(db().get(),
                "UPDATE outbox__consumers SET owner = NULL, lease_until_us = NULL, health = 'stopped'"
                " WHERE outbox = ?1 AND consumer = ?2 AND owner = ?3");
    s.bind(1, std::string_view(outbox)).bind(2, std::string_view(consumer)).bind(3, std::string_view(owner));
    s.run();
  }

  void seek(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) override {
    check_identifier(consumer, "consumer name");
    check_known(outbox);
    const std::int64_t position = parse_checkpoint(checkpoint);
    std::lock_guard lock(mutex_);
    const std::int64_t now_us = micros(now());
    Transaction t(db().get());
    Statement s(db().get(), "SELECT owner, lease_until_us FROM outbox__consumers WHERE outbox = ?1 AND consumer = ?2");
    s.bind(1, std::string_view(outbox)).bind(2, std::string_view(consumer));
    if (s.step() && !s.is_null(0) && !s.is_null(1) && s.int64(1) > now_us) {
      throw UsageError("consumer '" + consumer + "' is in use by relay '" + s.text(0) +
                       "'; stop that relay before seeking");
    }
    s.reset();
    Statement up(db().get(),
                 "INSERT INTO outbox__consumers (outbox, consumer, position, updated_us, health)"
                 " VALUES (?1, ?2, ?3, ?4, 'seeked') ON CONFLICT (outbox, consumer) DO UPDATE SET"
                 " position = excluded.position, updated_us = excluded.updated_us, health = excluded.health");
    up.bind(1, std::string_view(outbox)).bind(2, std::string_view(consumer)).bind(3, position).bind(4, now_us);
    up.run();
    t.commit();
  }

  void dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) override {
    std::lock_guard lock(mutex_);
    Statement s(db().get(),
                "INSERT INTO outbox__dead_letters (outbox, consumer, position, message, error, attempts, failed_us)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    s.bind(1, std::string_view(m.outbox)).bind(2, std::string_view(consumer)).bind(3, m.position);
    s.bind(4, std::string_view(to_json_line(m))).bind(5, std::string_view(error));
    s.bind(6, static_cast<std::int64_t>(attempts)).bind(7, micros(now()));
    s.run();
  }

  std::vector<DeadLetter> dead_letters(const std::string& outbox, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    std::vector<DeadLetter> out;
    Statement s(db().get(), std::string(kDeadLetterSelect) + " WHERE outbox = ?1 ORDER BY id LIMIT ?2");
    s.bind(1, std::string_view(outbox)).bind(2, static_cast<std::int64_t>(limit));
    while (s.step()) out.push_back(read_dead_letter(s));
    return out;
  }

  // One write transaction: the lease check, the appends and the deletes commit together, so a
  // replay interrupted at any point replays everything or nothing, and a second one finds nothing.
  std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                      bool force) override {
    check_known(outbox);
    if (which.consumer) check_identifier(*which.consumer, "consumer name");
    std::lock_guard lock(mutex_);
    Transaction t(db().get());
    auto chosen = choose_dead_letters(outbox, which, force);
    sort_for_replay(chosen);
    std::vector<ReplayedDeadLetter> out;
    Statement insert(db().get(), detail::insert_sql(outbox));
    Statement remove(db().get(), "DELETE FROM outbox__dead_letters WHERE id = ?1");
    for (const auto& d : chosen) {
      Message m = replay_message(d, outbox);
      detail::insert_message(db().get(), insert, outbox, replay_registry(m), m);
      insert.reset();
      remove.bind(1, d.id);
      remove.run();
      out.push_back({d.id, d.consumer, m.id, d.message.position, m.position});
    }
    t.commit();
    return out;
  }

  std::vector<DeadLetter> purge_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                             bool force) override {
    check_known(outbox);
    if (which.consumer) check_identifier(*which.consumer, "consumer name");
    std::lock_guard lock(mutex_);
    Transaction t(db().get());
    auto chosen = choose_dead_letters(outbox, which, force);
    Statement remove(db().get(), "DELETE FROM outbox__dead_letters WHERE id = ?1");
    for (const auto& d : chosen) {
      remove.bind(1, d.id);
      remove.run();
    }
    t.commit();
    return chosen;
  }

  RetentionResult enforce_retention(const std::string& outbox, const RetentionPolicy& policy) override {
    check_known(outbox);
    const std::string table = detail::message_table(outbox);
    RetentionResult result;
    std::lock_guard lock(mutex_);
    // What every registered consumer has passed (everything, if none is registered).
    std::int64_t passed = INT64_MAX;
    {
      Statement s(db().get(), "SELECT MIN(position) FROM outbox__consumers WHERE outbox = ?1");
      s.bind(1, std::string_view(outbox));
      if (s.step() && !s.is_null(0)) passed = s.int64(0);
    }
    auto nth_newest = [&](std::int64_t n) -> std::int64_t {  // position of the n-th newest row, or 0
      if (n <= 0) return INT64_MAX;                          // keep none (OFFSET -1 would act as 0 and keep the newest)
      Statement s(db().get(), "SELECT position FROM " + table + " ORDER BY position DESC LIMIT 1 OFFSET ?1");
      s.bind(1, n - 1);
      return s.step() ? s.int64(0) : 0;
    };
    // Soft bound: rows below `limit` may go, but only those every consumer has passed.
    std::int64_t limit = 0;
    if (policy.max_count) limit = std::max(limit, nth_newest(*policy.max_count));
    if (policy.max_age) {
      // Rows are created in position order, so the old ones are a prefix: find where it ends by
      // walking from the oldest (no index on created_us, which would cost every put a page).
      const std::int64_t cutoff_us = micros(now()) - policy.max_age->count() * 1'000'000;
      Statement s(db().get(), "SELECT position FROM " + table + " WHERE created_us >= ?1 ORDER BY position LIMIT 1");
      s.bind(1, cutoff_us);
      limit = std::max(limit, s.step() ? s.int64(0) : INT64_MAX);
    }
    // The newest message is never deleted: positions are plain rowids (no AUTOINCREMENT, which cost
    // every put a page for sqlite_sequence), and SQLite hands out max(rowid) + 1, so deleting the
    // newest row would give its position out again, behind a consumer that already passed it.
    std::int64_t newest = 0;
    {
      Statement s(db().get(), "SELECT MAX(position) FROM " + table);
      if (s.step() && !s.is_null(0)) newest = s.int64(0);
    }
    if (newest == 0) return result;  // empty: nothing to delete
    const std::int64_t batch = static_cast<std::int64_t>(std::max<std::size_t>(1, policy.batch_size));
    // Each batch is its own short write transaction, so writers wait at most one batch.
    auto delete_batches = [&](const std::string& where, auto bind) {
      std::int64_t total = 0;
      for (;;) {
        Transaction t(db().get());
        Statement s(db().get(), "DELETE FROM " + table + " WHERE position IN (SELECT position FROM " + table +
                                    " WHERE " + where + " ORDER BY position LIMIT ?9)");
        bind(s);
        s.bind(9, batch);
        s.run();
        const int n = sqlite3_changes(db().get());
        t.commit();
        total += n;
        if (n < batch) return total;
      }
    };
    if (policy.max_count || policy.max_age) {
      result.deleted += delete_batches("position <= ?1 AND position < ?2", [&](Statement& s) {
        s.bind(1, std::min(passed, INT64_MAX - 1)).bind(2, std::min(limit, newest));
      });
    }
    if (policy.hard_max_count) {
      const std::int64_t hard = std::min(nth_newest(*policy.hard_max_count), newest);
      if (hard > 0) {
        std::int64_t unpublished = 0;
        {
          Statement s(db().get(), "SELECT COUNT(*) FROM " + table + " WHERE position < ?1 AND position > ?2");
          s.bind(1, hard).bind(2, passed);
          if (s.step()) unpublished = s.int64(0);
        }
        result.deleted += delete_batches("position < ?1", [&](Statement& s) { s.bind(1, hard); });
        if (unpublished > 0) {
          result.dropped_unpublished = unpublished;
          Statement s(db().get(), "UPDATE outbox__outboxes SET dropped = dropped + ?1 WHERE name = ?2");
          s.bind(1, unpublished).bind(2, std::string_view(outbox));
          s.run();
          spdlog::warn(
              "outbox '{}': hard retention limit of {} messages dropped {} messages that a consumer had "
              "not yet passed; raise the hard retention limit or speed up the relay",
              outbox, *policy.hard_max_count, unpublished);
        }
      }
    }
    return result;
  }

  OutboxStatus status(const std::string& outbox) override {
    check_known(outbox);
    const std::string table = detail::message_table(outbox);
    std::lock_guard lock(mutex_);
    OutboxStatus st;
    st.name = outbox;
    {
      Statement s(db().get(), "SELECT COUNT(*), MIN(position), MAX(position) FROM " + table);
      s.step();
      st.count = s.int64(0);
      if (!s.is_null(1)) st.oldest_position = s.int64(1);
      if (!s.is_null(2)) st.newest_position = s.int64(2);
    }
    auto created_at = [&](std::int64_t position) {
      Statement s(db().get(), "SELECT created_us FROM " + table + " WHERE position = ?1");
      s.bind(1, position);
      return s.step() ? std::optional<Timestamp>(Timestamp(std::chrono::microseconds(s.int64(0)))) : std::nullopt;
    };
    if (st.oldest_position) st.oldest_created = created_at(*st.oldest_position);
    if (st.newest_position) st.newest_created = created_at(*st.newest_position);
    const auto now_ts = now();
    Statement c(db().get(),
                "SELECT consumer, position, owner, lease_until_us, updated_us, health FROM outbox__consumers"
                " WHERE outbox = ?1 ORDER BY consumer");
    c.bind(1, std::string_view(outbox));
    while (c.step()) {
      ConsumerStatus cs;
      cs.name = c.text(0);
      cs.position = c.int64(1);
      cs.checkpoint = std::to_string(*cs.position);
      cs.owner = c.is_null(2) ? "" : c.text(2);
      cs.lease_active = !c.is_null(3) && c.int64(3) > micros(now_ts);
      cs.updated = Timestamp(std::chrono::microseconds(c.int64(4)));
      cs.health = c.is_null(5) ? "" : c.text(5);
      Statement lag(db().get(), "SELECT COUNT(*), MIN(position) FROM " + table + " WHERE position > ?1");
      lag.bind(1, *cs.position);
      lag.step();
      cs.lag_messages = lag.int64(0);
      if (!lag.is_null(1)) {
        if (auto oldest = created_at(lag.int64(1))) {
          cs.lag_seconds = std::max(0.0, std::chrono::duration<double>(now_ts - *oldest).count());
        }
      }
      st.consumers.push_back(std::move(cs));
    }
    {
      Statement s(db().get(), "SELECT COUNT(*) FROM outbox__dead_letters WHERE outbox = ?1");
      s.bind(1, std::string_view(outbox));
      s.step();
      st.dead_letters = s.int64(0);
    }
    {
      Statement s(db().get(), "SELECT dropped FROM outbox__outboxes WHERE name = ?1");
      s.bind(1, std::string_view(outbox));
      if (s.step()) st.dropped = s.int64(0);
    }
    return st;
  }

 private:
  static constexpr const char* kDeadLetterSelect =
      "SELECT id, consumer, message, error, attempts, failed_us FROM outbox__dead_letters";

  static DeadLetter read_dead_letter(const Statement& s) {
    DeadLetter d;
    d.id = s.int64(0);
    d.consumer = s.text(1);
    d.message = message_from_json(nlohmann::json::parse(s.text_view(2)));
    d.error = s.text(3);
    d.attempts = static_cast<int>(s.int64(4));
    d.failed_at = Timestamp(std::chrono::microseconds(s.int64(5)));
    return d;
  }

  // The dead letters `which` names, by id; unless `force`, throws ConsumerInUse when a relay holds
  // the lease of a consumer among them. Callers hold mutex_ and a write transaction.
  std::vector<DeadLetter> choose_dead_letters(const std::string& outbox, const DeadLetterFilter& which, bool force) {
    std::vector<DeadLetter> chosen;
    {
      Statement s(db().get(), std::string(kDeadLetterSelect) +
                                  " WHERE outbox = ?1 AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR consumer = ?3)"
                                  " AND (?4 IS NULL OR failed_us <= ?4) ORDER BY id");
      s.bind(1, std::string_view(outbox));
      if (which.id) s.bind(2, *which.id);
      if (which.consumer) s.bind(3, std::string_view(*which.consumer));
      if (which.older_than) s.bind(4, micros(now()) - which.older_than->count() * 1'000'000);
      while (s.step()) chosen.push_back(read_dead_letter(s));
    }
    if (force) return chosen;
    const std::int64_t now_us = micros(now());
    Statement lease(db().get(),
                    "SELECT owner, lease_until_us FROM outbox__consumers WHERE outbox = ?1 AND consumer = ?2"
                    " AND owner IS NOT NULL AND lease_until_us > ?3");
    for (const auto& d : chosen) {
      lease.bind(1, std::string_view(outbox)).bind(2, std::string_view(d.consumer)).bind(3, now_us);
      if (lease.step()) throw consumer_in_use(outbox, d.consumer, lease.text(0), (lease.int64(1) - now_us) / 1000);
      lease.reset();
    }
    return chosen;
  }

  void connect(bool create) {
    if (!create && ::access(path_.c_str(), F_OK) != 0) {
      throw UsageError("sqlite: no database at '" + path_ + "' (" + std::strerror(errno) +
                       "); check the path, or create the database and an outbox in it with `outbox init`");
    }
    detail::Connection c(path_, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), busy_ms_);
    // This connection writes checkpoints, leases and dead letters. NORMAL skips the fsync per
    // commit (still safe against a crash of the process; a power loss can only roll a checkpoint
    // back, which means messages are resent, never lost). put() switches to FULL for its commit.
    detail::retry_while_busy([&] { c.exec("PRAGMA synchronous=NORMAL"); }, std::chrono::milliseconds(busy_ms_));
    db_.emplace(std::move(c));
  }

  // The connection, opened now if the database file has appeared since (callers hold mutex_).
  detail::Connection& db() {
    if (!db_) connect(false);
    return *db_;
  }

  bool has_table(const std::string& name) {
    Statement s(db().get(), "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
    s.bind(1, std::string_view(name));
    return s.step();
  }

  void check_known(const std::string& outbox) {
    check_identifier(outbox, "outbox name");
    std::lock_guard lock(mutex_);
    if (!has_table("outbox_" + outbox)) {
      throw NoSuchOutbox("outbox '" + outbox + "' does not exist in '" + path_ + "'; create it first", outbox);
    }
  }

  std::string path_;
  int busy_ms_;
  std::mutex mutex_;
  std::optional<detail::Connection> db_;  // empty while the database file does not exist
  std::optional<Statement> save_;
};

}  // namespace

std::unique_ptr<Store> open(const std::string& path, const StoreOptions& options) {
  if (path.empty()) throw UsageError("sqlite store needs a path: sqlite:PATH");
  return std::make_unique<SqliteStore>(path, options);
}

}  // namespace outbox::sqlite

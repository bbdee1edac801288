// The relay/CLI side of the PostgreSQL store: tails, checkpoints with leases, dead letters,
// retention and status, on a connection of its own (tails open one each).
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "connection.hpp"
#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "outbox/postgres.hpp"
#include "outbox/replay.hpp"
#include "put_and_commit.hpp"
#include "put_statements.hpp"
#include "store_uri.hpp"
#include "tables.hpp"
#include "tail.hpp"
#include "wal_backlog.hpp"
#include "wal_layout.hpp"
#include "wal_tail.hpp"

namespace outbox::postgres {

namespace {

using detail::Checkpoint;
using detail::exec;
using detail::Params;
using detail::Result;
using detail::Transaction;

// Lease times come from the server's clock, so relays on hosts with skewed clocks agree.
constexpr const char* kNowUs = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

std::string str(std::int64_t v) { return std::to_string(v); }

class PgStore final : public Store {
 public:
  PgStore(detail::StoreUri uri, bool wakeups)
      : conninfo_(std::move(uri.conninfo)), wakeups_(wakeups), uri_mode_(uri.mode), db_(conninfo_) {}

  void init(const std::string& outbox) override {
    detail::check_outbox_name(outbox);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    OutboxOptions o;
    // The URI's mode, else the stored one (init of an existing outbox), else the table mode.
    o.mode = uri_mode_ ? *uri_mode_ : detail::read_mode(c, outbox).value_or(Mode::table);
    Outbox(outbox, SchemaRegistry(), o).init(c);
    modes_[outbox] = o.mode;
  }

  std::vector<std::string> outboxes() override {
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    std::vector<std::string> out;
    if (exec(c, "SELECT to_regclass('outbox__outboxes') IS NULL", {}, "listing outboxes").text(0, 0) == "t") return out;
    Result r = exec(c, "SELECT name FROM outbox__outboxes ORDER BY name", {}, "listing outboxes");
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
  }

  Message put(const SchemaRegistry& registry, Message m) override {
    const std::string outbox = m.outbox;
    check_known(outbox);
    const Mode mode = mode_of(outbox);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    Transaction t(c);  // rolls back if the put is refused before anything is sent
    // The put rides in the COMMIT's flight: two round trips (BEGIN, then put and COMMIT), not three.
    const detail::PutStatements statements(outbox, true);
    std::vector<detail::NamedPut> put;
    put.push_back({&statements.name(mode, m), statements.statement(mode, registry, m)});
    m.position = detail::put_and_commit(c, put, statements.doing_put_and_commit()).front();
    return m;
  }

  std::unique_ptr<Tail> tail(const std::string& outbox, const Cursor& from, const TailOptions& options) override {
    check_known(outbox);
    if (mode_of(outbox) == Mode::wal) {
      std::shared_ptr<detail::SlotFeedback> feedback;
      if (!options.consumer.empty()) {
        check_identifier(options.consumer, "consumer name");
        std::lock_guard lock(mutex_);
        auto& slot = feedback_[detail::slot_name(outbox, options.consumer)];
        feedback = slot.lock();
        if (!feedback) {
          feedback = std::make_shared<detail::SlotFeedback>();
          slot = feedback;
        }
      }
      return std::make_unique<detail::WalTail>(conninfo_, outbox, options.consumer, from, options, feedback);
    }
    return std::make_unique<detail::PgTail>(conninfo_, outbox, from, options, wakeups_);
  }

  // Approximate by design: the tail then starts with the rows committed when it starts whose
  // position is at least `position`, and continues with every later commit (also those of
  // transactions still open at that moment that drew a lower position).
  std::string checkpoint_before(std::int64_t position) override {
    Checkpoint c;
    c.after = std::max<std::int64_t>(0, position - 1);
    return detail::encode(c);
  }

  std::string checkpoint_at_end(const std::string& outbox) override {
    check_known(outbox);
    if (mode_of(outbox) == Mode::wal) {
      // Every transaction that commits after this point ends after it.
      std::lock_guard lock(mutex_);
      const std::string lsn =
          exec(db_.ensure(), "SELECT pg_current_wal_lsn()::text", {}, "reading the current WAL position").text(0, 0);
      return detail::encode(detail::WalCheckpoint{detail::parse_lsn(lsn).value_or(0), std::nullopt});
    }
    std::lock_guard lock(mutex_);
    Checkpoint c;
    c.lo = exec(db_.ensure(), "SELECT pg_current_snapshot()::text", {}, "reading the current snapshot").text(0, 0);
    return detail::encode(c);
  }

  std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    check_identifier(consumer, "consumer name");
    check_known(outbox);
    const bool wal = mode_of(outbox) == Mode::wal;
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    // WAL mode: a new consumer's slot keeps its messages from here on (a copy of the default
    // consumer's, so it starts where that one stands). Outside the transaction below: a slot
    // cannot be created in one. Never for a consumer with a checkpoint: a slot of its that went
    // missing must fail loudly (the tail says so), not come back at "now" and skip messages.
    if (wal && exec(c,
                    "SELECT checkpoint FROM outbox__consumers WHERE outbox = $1 AND consumer = $2 AND checkpoint IS "
                    "NOT NULL",
                    {outbox, consumer}, "reading consumer '" + consumer + "'")
                       .rows() == 0) {
      detail::ensure_slot(c, outbox, consumer);
    }
    Transaction t(c);
    exec(c,
         std::string("INSERT INTO outbox__consumers (outbox, consumer, updated_us, health) VALUES ($1, $2, ") + kNowUs +
             ", 'new') ON CONFLICT (outbox, consumer) DO NOTHING",
         {outbox, consumer}, "registering consumer '" + consumer + "'");
    Result r = exec(c,
                    std::string("SELECT checkpoint, owner, coalesce(lease_until_us, 0) - ") + kNowUs +
                        " FROM outbox__consumers WHERE outbox = $1 AND consumer = $2 FOR UPDATE",
                    {outbox, consumer}, "reading consumer '" + consumer + "'");
    std::optional<std::string> checkpoint;
    if (!r.is_null(0, 0)) checkpoint = r.text(0, 0);
    const std::string holder = r.is_null(0, 1) ? "" : r.text(0, 1);
    const std::int64_t left_us = r.int64(0, 2);
    if (!holder.empty() && holder != owner && left_us > 0) {
      throw LeaseLost("consumer '" + consumer + "' of outbox '" + outbox + "' is held by relay '" + holder +
                      "' for another " + str(left_us / 1000) + " ms; stop that relay, or use another consumer name");
    }
    exec(c,
         std::string("UPDATE outbox__consumers SET owner = $3, lease_until_us = ") + kNowUs +
             " + $4::bigint, updated_us = " + kNowUs + ", health = 'starting' WHERE outbox = $1 AND consumer = $2",
         {outbox, consumer, owner, str(ttl.count() * 1'000'000)}, "taking the lease of consumer '" + consumer + "'");
    t.commit();
    if (checkpoint && wal) {
      detail::parse_wal_checkpoint(*checkpoint);  // the tail checks it against the slot
    } else if (checkpoint) {
      detail::check_not_ahead(c, detail::parse_checkpoint(*checkpoint));
    }
    return checkpoint;
  }

  // Saves and retention use this store's connection under mutex_; every tail streams on connections of its own.
  // In WAL mode a save hands the slot's confirmable LSN to the tail through SlotFeedback, an
  // atomic the tail reads on its own thread when it sends standby status updates: the
  // replication connection itself is only ever used by the tail's thread.
  bool concurrent_relay_writes() const override { return true; }

  void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    std::optional<detail::WalCheckpoint> wal;
    if (mode_of(outbox) == Mode::wal) {
      wal = detail::parse_wal_checkpoint(checkpoint);
    } else {
      detail::parse_checkpoint(checkpoint);
    }
    std::lock_guard lock(mutex_);
    Result r = exec(db_.ensure(),
                    std::string("UPDATE outbox__consumers SET checkpoint = $1, lease_until_us = ") + kNowUs +
                        " + $2::bigint, updated_us = " + kNowUs +
                        ", health = $3 WHERE outbox = $4 AND consumer = $5 AND owner = $6",
                    {checkpoint, str(ttl.count() * 1'000'000), health, outbox, consumer, owner},
                    "saving the checkpoint of consumer '" + consumer + "'");
    if (std::string(PQcmdTuples(r.get())) == "0") {
      throw LeaseLost("relay '" + owner + "' no longer holds consumer '" + consumer + "' of outbox '" + outbox +
                      "' (another relay took it over, or it was reset); this relay stops");
    }
    // Saved first, then confirmed to the slot (by the tail streaming it): the saved checkpoint is
    // never behind the slot, so a restart never needs WAL the server has let go.
    if (wal && wal->confirmable() > 0) {
      auto it = feedback_.find(detail::slot_name(outbox, consumer));
      if (it != feedback_.end()) {
        if (auto f = it->second.lock()) f->raise(wal->confirmable());
      }
    }
  }

  void release(const ConsumerRef& ref) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    std::lock_guard lock(mutex_);
    exec(db_.ensure(),
         "UPDATE outbox__consumers SET owner = NULL, lease_until_us = NULL, health = 'stopped'"
         " WHERE outbox = $1 AND consumer = $2 AND owner = $3",
         {outbox, consumer, owner}, "releasing consumer '" + consumer + "'");
  }

  void seek(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) override {
    check_identifier(consumer, "consumer name");
    check_known(outbox);
    if (mode_of(outbox) == Mode::wal) {
      seek_wal(outbox, consumer, checkpoint);
      return;
    }
    detail::parse_checkpoint(checkpoint);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    Transaction t(c);
    Result r = exec(c,
                    std::string("SELECT owner FROM outbox__consumers WHERE outbox = $1 AND consumer = $2 AND owner IS "
                                "NOT NULL AND lease_until_us > ") +
                        kNowUs + " FOR UPDATE",
                    {outbox, consumer}, "reading consumer '" + consumer + "'");
    if (r.rows() > 0) {
      throw UsageError("consumer '" + consumer + "' is in use by relay '" + r.text(0, 0) +
                       "'; stop that relay before seeking");
    }
    exec(c,
         std::string("INSERT INTO outbox__consumers (outbox, consumer, checkpoint, updated_us, health) VALUES ($1, $2, "
                     "$3, ") +
             kNowUs +
             ", 'seeked') ON CONFLICT (outbox, consumer) DO UPDATE SET checkpoint ="
             " excluded.checkpoint, updated_us = excluded.updated_us, health = excluded.health",
         {outbox, consumer, checkpoint}, "seeking consumer '" + consumer + "'");
    t.commit();
  }

  void dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) override {
    std::lock_guard lock(mutex_);
    exec(
        db_.ensure(),
        std::string("INSERT INTO outbox__dead_letters (outbox, consumer, position, message, error, attempts, failed_us)"
                    " VALUES ($1, $2, $3::bigint, $4, $5, $6::integer, ") +
            kNowUs + ")",
        {m.outbox, consumer, str(m.position), to_json_line(m), error, std::to_string(attempts)},
        "writing a dead letter");
  }

  std::vector<DeadLetter> dead_letters(const std::string& outbox, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    std::vector<DeadLetter> out;
    if (exec(c, "SELECT to_regclass('outbox__dead_letters') IS NULL", {}, "reading dead letters").text(0, 0) == "t") {
      return out;
    }
    Result r = exec(c, std::string(kDeadLetterSelect) + " WHERE outbox = $1 ORDER BY id LIMIT $2::bigint",
                    {outbox, str(static_cast<std::int64_t>(limit))}, "reading dead letters");
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_dead_letter(r, i));
    return out;
  }

  // One transaction: the lease check, the appends (through put's own statement, so a replay takes
  // the key's lock and wakes a sleeping tail as a put does; in WAL mode a logical message) and the
  // deletes commit together. The dead letters are locked first, so a concurrent replay of the same
  // ones waits and then finds them gone.
  std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                      bool force) override {
    check_known(outbox);
    if (which.consumer) check_identifier(*which.consumer, "consumer name");
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    Transaction t(c);
    auto chosen = choose_dead_letters(c, outbox, which, force);
    sort_for_replay(chosen);
    std::vector<ReplayedDeadLetter> out;
    // In WAL mode the stream is the WAL: a replay is a logical message like any put there.
    const Mode mode = !chosen.empty() && detail::read_mode(c, outbox) == Mode::wal ? Mode::wal : Mode::table;
    const detail::PutStatements statements(outbox, true);
    for (const auto& d : chosen) {
      Message m = replay_message(d, outbox);
      detail::put_in_transaction(c, statements, mode, replay_registry(m), m);
      exec(c, "DELETE FROM outbox__dead_letters WHERE id = $1::bigint", {str(d.id)}, "removing a replayed dead letter");
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
    PGconn* c = db_.ensure();
    Transaction t(c);
    auto chosen = choose_dead_letters(c, outbox, which, force);
    for (const auto& d : chosen) {
      exec(c, "DELETE FROM outbox__dead_letters WHERE id = $1::bigint", {str(d.id)}, "purging a dead letter");
    }
    t.commit();
    return chosen;
  }

  RetentionResult enforce_retention(const std::string& outbox, const RetentionPolicy& policy) override {
    check_known(outbox);
    RetentionResult result;
    // WAL mode: nothing to delete. The server recycles WAL once every slot has confirmed it.
    if (mode_of(outbox) == Mode::wal) return result;
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    const std::string table = detail::message_table(c, outbox);
    // One relay at a time per outbox; the others skip this round.
    const std::string lock_id = str(detail::lock_key("retention", outbox));
    if (exec(c, "SELECT pg_try_advisory_lock($1::bigint)", {lock_id}, "taking the retention lock").text(0, 0) != "t") {
      return result;
    }
    struct Unlock {
      PGconn* c;
      std::string id;
      ~Unlock() {
        if (PQstatus(c) == CONNECTION_OK) {
          const char* v[] = {id.c_str()};
          PQclear(PQexecParams(c, "SELECT pg_advisory_unlock($1::bigint)", 1, nullptr, v, nullptr, nullptr, 0));
        }
      }
    } unlock{c, lock_id};

    // "Passed by every registered consumer" (everything, when none is registered).
    Params passed_params;
    std::string passed = "true";
    {
      Result r = exec(c, "SELECT checkpoint FROM outbox__consumers WHERE outbox = $1", {outbox}, "reading consumers");
      for (int i = 0; i < r.rows(); ++i) {
        Checkpoint cp;  // a consumer without a checkpoint has passed nothing
        if (!r.is_null(i, 0)) cp = detail::parse_checkpoint(r.text(i, 0));
        passed += " AND " + detail::passed_sql(static_cast<int>(passed_params.size()) + 1);
        detail::bind(passed_params, cp);
      }
    }
    auto nth_newest = [&](std::int64_t n) -> std::int64_t {  // position of the n-th newest row, or 0
      if (n <= 0) return INT64_MAX;                          // keep none: every row is below the "0th newest"
      Result r = exec(c, "SELECT position FROM " + table + " ORDER BY position DESC LIMIT 1 OFFSET $1::bigint",
                      {str(std::max<std::int64_t>(0, n - 1))}, "retention");
      return r.rows() > 0 ? r.int64(0, 0) : 0;
    };
    const std::int64_t batch = static_cast<std::int64_t>(std::max<std::size_t>(1, policy.batch_size));
    // Each batch is its own short statement (autocommit), so writers are never held up for long.
    auto delete_batches = [&](const std::string& where, const Params& params) {
      std::int64_t total = 0;
      Params p = params;
      p.push_back(str(batch));
      const std::string limit = "$" + std::to_string(p.size()) + "::bigint";
      for (;;) {
        Result r = exec(c,
                        "DELETE FROM " + table + " WHERE position IN (SELECT position FROM " + table + " WHERE " +
                            where + " ORDER BY position LIMIT " + limit + ")",
                        p, "retention of outbox '" + outbox + "'");
        const std::int64_t n = std::strtoll(PQcmdTuples(r.get()), nullptr, 10);
        total += n;
        if (n < batch) return total;
      }
    };
    if (policy.max_count || policy.max_age) {
      const std::int64_t limit = policy.max_count ? nth_newest(*policy.max_count) : 0;
      const std::int64_t cutoff_us =
          policy.max_age ? now().time_since_epoch().count() - policy.max_age->count() * 1'000'000 : INT64_MIN;
      Params p = passed_params;
      const int k = static_cast<int>(p.size());
      p.push_back(str(limit));
      p.push_back(str(cutoff_us));
      result.deleted += delete_batches(passed + " AND (position < $" + std::to_string(k + 1) +
                                           "::bigint OR created_us < $" + std::to_string(k + 2) + "::bigint)",
                                       p);
    }
    if (policy.hard_max_count) {
      const std::int64_t hard = nth_newest(*policy.hard_max_count);
      if (hard > 0) {
        Params p = passed_params;
        p.push_back(str(hard));
        const std::string below = "position < $" + std::to_string(p.size()) + "::bigint";
        const std::int64_t unpublished =
            exec(c, "SELECT count(*) FROM " + table + " WHERE " + below + " AND NOT (" + passed + ")", p, "retention")
                .int64(0, 0);
        result.deleted += delete_batches("position < $1::bigint", {str(hard)});
        if (unpublished > 0) {
          result.dropped_unpublished = unpublished;
          exec(c, "UPDATE outbox__outboxes SET dropped = dropped + $1::bigint WHERE name = $2",
               {str(unpublished), outbox}, "retention");
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
    if (mode_of(outbox) == Mode::wal) return wal_status(outbox);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    const std::string table = detail::message_table(c, outbox);
    OutboxStatus st;
    st.name = outbox;
    {
      Result r = exec(c,
                      "SELECT count(*), min(position), max(position), (SELECT created_us FROM " + table +
                          " ORDER BY position LIMIT 1), (SELECT created_us FROM " + table +
                          " ORDER BY position DESC LIMIT 1) FROM " + table,
                      {}, "status");
      st.count = r.int64(0, 0);
      if (!r.is_null(0, 1)) st.oldest_position = r.int64(0, 1);
      if (!r.is_null(0, 2)) st.newest_position = r.int64(0, 2);
      if (!r.is_null(0, 3)) st.oldest_created = Timestamp(std::chrono::microseconds(r.int64(0, 3)));
      if (!r.is_null(0, 4)) st.newest_created = Timestamp(std::chrono::microseconds(r.int64(0, 4)));
    }
    const auto now_ts = now();
    Result cs_rows = exec(c,
                          std::string("SELECT consumer, checkpoint, owner, coalesce(lease_until_us, 0) > ") + kNowUs +
                              ", updated_us, health FROM outbox__consumers WHERE outbox = $1 ORDER BY consumer",
                          {outbox}, "status");
    for (int i = 0; i < cs_rows.rows(); ++i) {
      ConsumerStatus cs;
      cs.name = cs_rows.text(i, 0);
      Checkpoint cp;
      if (!cs_rows.is_null(i, 1)) {
        cs.checkpoint = cs_rows.text(i, 1);
        cp = detail::parse_checkpoint(cs.checkpoint);
      }
      cs.owner = cs_rows.is_null(i, 2) ? "" : cs_rows.text(i, 2);
      cs.lease_active = cs_rows.text(i, 3) == "t";
      cs.updated = Timestamp(std::chrono::microseconds(cs_rows.int64(i, 4)));
      cs.health = cs_rows.is_null(i, 5) ? "" : cs_rows.text(i, 5);
      Params p;
      detail::bind(p, cp);
      const std::string passed = detail::passed_sql(1);
      Result lag = exec(c,
                        "SELECT count(*), min(created_us), (SELECT max(position) FROM " + table + " WHERE " + passed +
                            ") FROM " + table + " WHERE NOT " + passed,
                        p, "status");
      cs.lag_messages = lag.int64(0, 0);
      if (!lag.is_null(0, 1)) {
        const Timestamp oldest{std::chrono::microseconds(lag.int64(0, 1))};
        cs.lag_seconds = std::max(0.0, std::chrono::duration<double>(now_ts - oldest).count());
      }
      if (!lag.is_null(0, 2)) {
        cs.position = lag.int64(0, 2);
      } else if (cp.after > 0) {
        // Retention deleted every row this consumer passed; the checkpoint still names the last
        // position it passed (a checkpoint taken inside a snapshot window carries it).
        cs.position = cp.after;
      }
      st.consumers.push_back(std::move(cs));
    }
    st.dead_letters =
        exec(c, "SELECT count(*) FROM outbox__dead_letters WHERE outbox = $1", {outbox}, "status").int64(0, 0);
    Result d = exec(c, "SELECT dropped FROM outbox__outboxes WHERE name = $1", {outbox}, "status");
    if (d.rows() > 0) st.dropped = d.int64(0, 0);
    return st;
  }

 private:
  static constexpr const char* kDeadLetterSelect =
      "SELECT id, consumer, message, error, attempts, failed_us FROM outbox__dead_letters";

  static DeadLetter read_dead_letter(const Result& r, int i) {
    DeadLetter d;
    d.id = r.int64(i, 0);
    d.consumer = r.text(i, 1);
    d.message = message_from_json(nlohmann::json::parse(r.text(i, 2)));
    d.error = r.text(i, 3);
    d.attempts = static_cast<int>(r.int64(i, 4));
    d.failed_at = Timestamp(std::chrono::microseconds(r.int64(i, 5)));
    return d;
  }

  // The dead letters `which` names, locked, by id; unless `force`, throws ConsumerInUse when a
  // relay holds the lease of a consumer among them. Runs inside the caller's transaction.
  std::vector<DeadLetter> choose_dead_letters(PGconn* c, const std::string& outbox, const DeadLetterFilter& which,
                                              bool force) {
    Params p{outbox, std::nullopt, std::nullopt, std::nullopt};
    if (which.id) p[1] = str(*which.id);
    if (which.consumer) p[2] = *which.consumer;
    if (which.older_than) p[3] = str(which.older_than->count() * 1'000'000);  // failed_us is the server's clock
    Result r = exec(c,
                    std::string(kDeadLetterSelect) +
                        " WHERE outbox = $1 AND ($2::bigint IS NULL OR id = $2::bigint) AND ($3::text IS NULL OR"
                        " consumer = $3::text) AND ($4::bigint IS NULL OR failed_us <= " +
                        kNowUs + " - $4::bigint) ORDER BY id FOR UPDATE",
                    p, "reading dead letters");
    std::vector<DeadLetter> chosen;
    for (int i = 0; i < r.rows(); ++i) chosen.push_back(read_dead_letter(r, i));
    if (force) return chosen;
    for (const auto& d : chosen) {
      Result held = exec(c,
                         std::string("SELECT owner, lease_until_us - ") + kNowUs +
                             " FROM outbox__consumers WHERE outbox = $1 AND consumer = $2 AND owner IS NOT NULL AND"
                             " lease_until_us > " +
                             kNowUs,
                         {outbox, d.consumer}, "reading consumer '" + d.consumer + "'");
      if (held.rows() > 0) throw consumer_in_use(outbox, d.consumer, held.text(0, 0), held.int64(0, 1) / 1000);
    }
    return chosen;
  }

  void check_known(const std::string& outbox) {
    detail::check_outbox_name(outbox);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    if (auto it = modes_.find(outbox); it != modes_.end() && it->second == Mode::wal) return;
    if (exec(c, "SELECT to_regclass($1) IS NULL", {detail::message_table(c, outbox)}, "looking up the outbox")
            .text(0, 0) == "t") {
      // No table: a WAL-mode outbox has none.
      if (detail::read_mode(c, outbox) == Mode::wal) {
        modes_[outbox] = Mode::wal;
        check_uri_mode(outbox, Mode::wal);
        return;
      }
      throw NoSuchOutbox("outbox '" + outbox + "' does not exist in '" + db_.redacted() + "'; create it first", outbox);
    }
  }

  // The outbox's mode (after check_known); never changes once created, so it is cached.
  Mode mode_of(const std::string& outbox) {
    std::lock_guard lock(mutex_);
    if (auto it = modes_.find(outbox); it != modes_.end()) return it->second;
    const Mode m = detail::read_mode(db_.ensure(), outbox).value_or(Mode::table);
    check_uri_mode(outbox, m);
    modes_[outbox] = m;
    return m;
  }

  void check_uri_mode(const std::string& outbox, Mode stored) const {
    if (uri_mode_ && *uri_mode_ != stored) {
      throw UsageError("the store URI asks for outboxMode=" + to_string(*uri_mode_) + " but outbox '" + outbox +
                       "' is in " + to_string(stored) + " mode; use outboxMode=" + to_string(stored) +
                       " or leave the option out");
    }
  }

  // WAL mode: a consumer's checkpoint moves within what its slot still holds. Forward of the slot's
  // confirmed position it also moves the slot (the server lets the WAL before it go); behind it
  // is refused: the server no longer has those messages.
  void seek_wal(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) {
    const detail::WalCheckpoint to = detail::parse_wal_checkpoint(checkpoint);
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    detail::ensure_slot(c, outbox, consumer);
    const std::string slot = detail::slot_name(outbox, consumer);
    Transaction t(c);
    Result r = exec(c,
                    std::string("SELECT owner FROM outbox__consumers WHERE outbox = $1 AND consumer = $2 AND owner IS "
                                "NOT NULL AND lease_until_us > ") +
                        kNowUs + " FOR UPDATE",
                    {outbox, consumer}, "reading consumer '" + consumer + "'");
    if (r.rows() > 0) {
      throw UsageError("consumer '" + consumer + "' is in use by relay '" + r.text(0, 0) +
                       "'; stop that relay before seeking");
    }
    Result s = exec(c, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", {slot},
                    "reading replication slot '" + slot + "'");
    const std::uint64_t confirmed = s.rows() > 0 && !s.is_null(0, 0) ? detail::parse_lsn(s.text(0, 0)).value_or(0) : 0;
    const std::uint64_t lowest = to.taken ? (to.end > 0 ? to.end - 1 : 0) : to.end;
    if (lowest < confirmed) {
      throw UsageError("consumer '" + consumer + "' of WAL-mode outbox '" + outbox + "' cannot seek to '" + checkpoint +
                       "': its replication slot has let the WAL before " + detail::lsn_text(confirmed) +
                       " go, so a WAL-mode consumer seeks only forward of it (to " +
                       detail::encode(detail::WalCheckpoint{confirmed, std::nullopt}) + " or later, or the end)");
    }
    exec(c,
         std::string("INSERT INTO outbox__consumers (outbox, consumer, checkpoint, updated_us, health) VALUES ($1, $2, "
                     "$3, ") +
             kNowUs +
             ", 'seeked') ON CONFLICT (outbox, consumer) DO UPDATE SET checkpoint ="
             " excluded.checkpoint, updated_us = excluded.updated_us, health = excluded.health",
         {outbox, consumer, detail::encode(to)}, "seeking consumer '" + consumer + "'");
    t.commit();
    // Saved first, then the slot moves (never past a saved checkpoint).
    if (to.confirmable() > confirmed) {
      exec(c, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)", {slot, detail::lsn_text(to.confirmable())},
           "moving replication slot '" + slot + "'");
    }
  }

  // How many changes a WAL-mode status decodes per consumer at most (a bound on its cost: the
  // server decodes from the slot's restart position, the client receives each message).
  static constexpr std::size_t kBacklogChanges = 10000;

  OutboxStatus wal_status(const std::string& outbox) {
    std::lock_guard lock(mutex_);
    PGconn* c = db_.ensure();
    OutboxStatus st;
    st.name = outbox;  // no table: no count, no positions (the WAL holds the messages)
    Result cs_rows = exec(c,
                          std::string("SELECT consumer, checkpoint, owner, coalesce(lease_until_us, 0) > ") + kNowUs +
                              ", updated_us, health FROM outbox__consumers WHERE outbox = $1 ORDER BY consumer",
                          {outbox}, "status");
    std::vector<std::string> names;
    for (int i = 0; i < cs_rows.rows(); ++i) names.push_back(cs_rows.text(i, 0));
    if (std::find(names.begin(), names.end(), "default") == names.end()) names.insert(names.begin(), "default");
    for (const auto& name : names) {
      ConsumerStatus cs;
      cs.name = name;
      for (int i = 0; i < cs_rows.rows(); ++i) {
        if (cs_rows.text(i, 0) != name) continue;
        if (!cs_rows.is_null(i, 1)) cs.checkpoint = cs_rows.text(i, 1);
        cs.owner = cs_rows.is_null(i, 2) ? "" : cs_rows.text(i, 2);
        cs.lease_active = cs_rows.text(i, 3) == "t";
        cs.updated = Timestamp(std::chrono::microseconds(cs_rows.int64(i, 4)));
        cs.health = cs_rows.is_null(i, 5) ? "" : cs_rows.text(i, 5);
      }
      const std::string slot = detail::slot_name(outbox, name);
      Result s = exec(c,
                      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, coalesce(wal_status, '') "
                      "FROM pg_replication_slots WHERE slot_name = $1",
                      {slot}, "status");
      if (s.rows() == 0) {
        if (cs.health.empty()) cs.health = "replication slot '" + slot + "' is missing";
      } else {
        if (!s.is_null(0, 0)) cs.retained_wal_bytes = s.int64(0, 0);
        if (s.text(0, 1) == "lost") {
          cs.health = "replication slot '" + slot + "' was invalidated (WAL removed)";
        } else {
          // What the slot holds past the checkpoint: the messages not passed yet, and the oldest's age.
          const detail::WalCheckpoint from =
              cs.checkpoint.empty() ? detail::WalCheckpoint{} : detail::parse_wal_checkpoint(cs.checkpoint);
          const detail::WalBacklog backlog = detail::read_wal_backlog(c, outbox, slot, from, kBacklogChanges);
          cs.lag_messages = backlog.messages;
          cs.lag_messages_at_least = !backlog.complete;
          if (backlog.oldest_created) {
            cs.lag_seconds = std::max(0.0, std::chrono::duration<double>(now() - *backlog.oldest_created).count());
          }
        }
      }
      st.consumers.push_back(std::move(cs));
    }
    st.dead_letters =
        exec(c, "SELECT count(*) FROM outbox__dead_letters WHERE outbox = $1", {outbox}, "status").int64(0, 0);
    return st;
  }

  std::string conninfo_;
  bool wakeups_;
  std::optional<Mode> uri_mode_;
  std::mutex mutex_;
  detail::Connection db_;
  std::map<std::string, Mode> modes_;
  // The tails streaming a slot in this process, to confirm saved checkpoints to (by slot name).
  std::map<std::string, std::weak_ptr<detail::SlotFeedback>> feedback_;
};

}  // namespace

std::unique_ptr<Store> open(const std::string& conninfo, const StoreOptions& options) {
  return std::make_unique<PgStore>(detail::parse_store_uri(conninfo), options.wakeups);
}

}  // namespace outbox::postgres

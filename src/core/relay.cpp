// The relay loop. Invariants:
//  - messages are handed to the sink in position order, and after a failure nothing new is handed
//    over until every failed message is resolved (acknowledged or dead-lettered), so a later
//    message of the same key cannot be delivered before a retried one;
//  - the checkpoint only ever covers the contiguous prefix of resolved messages.
#include "outbox/relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>

#include <spdlog/spdlog.h>

#include "delivery_window.hpp"
#include "interval_timer.hpp"
#include "outbox/errors.hpp"
#include "outbox/replay.hpp"
#include "relay_writer.hpp"

namespace outbox {

std::chrono::milliseconds Backoff::delay(int attempt, double unit_random) const {
  const double base = static_cast<double>(initial.count()) * std::pow(multiplier, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(max.count()));
  const double factor = 1.0 + jitter * (2.0 * unit_random - 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, capped * factor)));
}

namespace {

std::string default_owner() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

RelayOptions with_default_owner(RelayOptions o) {
  if (o.owner.empty()) o.owner = default_owner();
  return o;
}

}  // namespace

struct Relay::Impl {
  Impl(Store& s, Sink& k, RelayOptions o)
      : store(s), sink(k), options(with_default_owner(std::move(o))), window(options.max_attempts) {
    if (options.max_attempts < 1) throw UsageError("max_attempts must be at least 1");
    if (options.batch_size < 1 || options.max_in_flight < 1) {
      throw UsageError("batch_size and max_in_flight must be at least 1");
    }
  }

  Store& store;
  Sink& sink;
  RelayOptions options;
  const ConsumerRef self{options.outbox, options.consumer, options.owner};

  std::mutex control_mutex;  // guards tail, stopping's wake-up, stats
  std::condition_variable control_cv;
  bool stopping = false;
  Tail* tail = nullptr;
  RelayStats stats;

  detail::DeliveryWindow window;  // handed to the sink, not yet resolved; in delivery order
  std::string saved_checkpoint;   // of the resolved prefix (persisted, or to be with the next save)
  std::string last_read;          // checkpoint of the last message read from the tail
  std::int64_t resolved_position = 0;
  bool unsaved = false;  // saved_checkpoint moved since it was last persisted
  std::chrono::steady_clock::time_point last_persist{};
  std::string health = "ok";
  // For state(). An atomic, so that the loop takes no lock to report a turn.
  std::atomic<std::int64_t> last_turn_ns{std::chrono::steady_clock::now().time_since_epoch().count()};
  RelayState::Phase phase = RelayState::Phase::starting;  // guarded by control_mutex
  std::string standby_reason;                             // guarded by control_mutex
  std::mt19937_64 rng{std::random_device{}()};
  std::unique_ptr<Tail> owned_tail;  // `tail` above is the same, for stop() (under control_mutex)
  // The periodic chores; set when the relay holds its lease.
  std::optional<detail::IntervalTimer> lease_timer, retention_timer, progress_timer;
  std::int64_t reported_acks = 0;  // acknowledged count at the last progress log
  // Writes the checkpoints (lease renewals) and retention rounds off this thread while the relay
  // holds its lease.
  std::optional<detail::RelayWriter> writer;
  // When the newest save known to have succeeded began: the lease runs from about then.
  std::chrono::steady_clock::time_point lease_renewed{};

  // The loop made progress; a wait about to begin counts until it ends (`ahead`).
  void mark_turn(std::chrono::steady_clock::duration ahead = {}) {
    last_turn_ns.store((std::chrono::steady_clock::now() + ahead).time_since_epoch().count(),
                       std::memory_order_relaxed);
  }

  void set_phase(RelayState::Phase p, std::string reason = {}) {
    std::lock_guard lock(control_mutex);
    phase = p;
    standby_reason = std::move(reason);
  }

  bool should_stop() {
    std::lock_guard lock(control_mutex);
    return stopping;
  }

  template <class F>
  void update_stats(F f) {
    std::lock_guard lock(control_mutex);
    f(stats);
  }

  // Applies the outcomes of one poll. Acknowledgements are counted into the stats once per poll
  // (the stats lock once, not per message), also when a dead letter's record fails part way.
  void apply(const std::vector<Delivery>& deliveries) {
    std::int64_t acknowledged = 0;
    try {
      for (const auto& d : deliveries) acknowledged += apply(d) ? 1 : 0;
    } catch (...) {
      update_stats([&](RelayStats& s) { s.acknowledged += acknowledged; });
      throw;
    }
    if (acknowledged > 0) update_stats([&](RelayStats& s) { s.acknowledged += acknowledged; });
  }

  // Applies one outcome; true if it acknowledged a message in flight.
  bool apply(const Delivery& d) {
    const auto result = window.apply(d);
    detail::WindowEntry* e = result.entry;
    switch (result.kind) {
      case detail::DeliveryWindow::Applied::ignored:
        return false;
      case detail::DeliveryWindow::Applied::acknowledged:
        return true;
      case detail::DeliveryWindow::Applied::dead_letter:
        try {
          store.dead_letter(options.consumer, e->message, d.error, e->failures);
        } catch (...) {
          window.dead_letter_failed(*e);  // not recorded: try again in the next round
          throw;
        }
        spdlog::error("outbox '{}': message {} (position {}) dead-lettered after {} attempts: {}", options.outbox,
                      e->message.id, e->message.position, e->failures, d.error);
        window.dead_lettered(*e);
        update_stats([](RelayStats& s) { ++s.dead_lettered; });
        return false;
      case detail::DeliveryWindow::Applied::failed: {
        health = "retrying: " + d.error;
        // One line per retry round, not per message: an outage fails thousands at once.
        const auto level = window.failed() == 1 ? spdlog::level::warn : spdlog::level::debug;
        spdlog::log(level, "outbox '{}': {} failed message at position {} (attempt {}): {}; retrying in order",
                    options.outbox, sink.describe(), e->message.position, e->failures, d.error);
        return false;
      }
    }
    return false;
  }

  // Pops the resolved prefix and marks its checkpoint for saving.
  void advance() {
    auto prefix = window.pop_resolved_prefix();
    if (!prefix || prefix->checkpoint.empty()) return;  // a tail always gives one; never save ""
    if (window.recovering() == 0) health = "ok";
    saved_checkpoint = std::move(prefix->checkpoint);
    resolved_position = prefix->position;
    unsaved = true;
  }

  // Nothing was read and nothing is in flight (every message read is resolved, so saved_checkpoint
  // is the last one's): a tail may know a later point with no message before it, e.g. a change
  // stream's post-batch resume token. Saving it keeps an idle consumer's checkpoint inside the
  // oplog. It goes through the normal throttled persist, and is the point a reopened tail starts
  // from. Called only with an empty window, so it can never pass an unacknowledged message; the
  // Tail contract (at or after everything it returned) keeps it from moving backwards.
  void adopt_idle_checkpoint(Tail& t) {
    auto idle = t.idle_checkpoint();
    if (!idle || idle->empty() || *idle == saved_checkpoint) return;
    saved_checkpoint = *idle;
    last_read = std::move(*idle);
    unsaved = true;
  }

  // Persists the resolved prefix at most every checkpoint_interval (a save is a write transaction;
  // one per batch would compete with the service's own writers), and always when forced. The
  // save runs on the writer's thread (posted, and this thread goes on) unless `wait`: then it waits
  // for the writer and saves here, so that its outcome is known before anything else happens.
  enum class Wait { no, yes };
  void persist(bool force, Wait wait = Wait::no) {
    if (!unsaved) return;
    const auto now_steady = std::chrono::steady_clock::now();
    if (!force && now_steady - last_persist < options.checkpoint_interval) return;
    // The relay's own trouble (retrying a message) first, else what the sink says of its broker.
    std::string shown = health != "ok" ? health : "sink: " + sink.health();
    if (shown == "sink: ok") shown = "ok";
    // If the save fails (database unavailable), the checkpoint stays in memory and the next
    // persist or lease renewal carries it: unsaved is set again (take_writes() does it for a
    // background save).
    if (wait == Wait::yes) {
      writer->save_now(saved_checkpoint, resolved_position, shown);
    } else {
      writer->post(saved_checkpoint, resolved_position, std::move(shown));
    }
    unsaved = false;
    last_persist = now_steady;
    take_writes();
  }

  // Takes in what the writer finished: counts the saves and retention rounds that succeeded, and
  // rethrows (here, on the relay thread, where run() handles it as it always did) the error of one
  // that failed.
  void take_writes() {
    const auto outcome = writer->take();
    count_writes(outcome);
    if (outcome.error) {
      unsaved = true;  // carried by the next persist
      std::rethrow_exception(outcome.error);
    }
  }

  // On the way out: waits until the writer is idle and takes in what it did. A background write
  // that failed is not rethrown, only logged: the checkpoint is marked unsaved, and the synchronous
  // save that follows reports its own outcome (a lost lease fails it too); a failed retention round
  // is run again by the next relay.
  void settle_writes() {
    writer->wait_idle();
    const auto outcome = writer->take();
    count_writes(outcome);
    if (!outcome.error) return;
    unsaved = true;
    try {
      std::rethrow_exception(outcome.error);
    } catch (const std::exception& e) {
      spdlog::warn("outbox '{}': a checkpoint save or retention round failed while stopping ({}); saving again",
                   options.outbox, e.what());
    } catch (...) {
      spdlog::warn("outbox '{}': a checkpoint save or retention round failed while stopping; saving again",
                   options.outbox);
    }
  }

  // Stats count only the saves and retention rounds that succeeded.
  void count_writes(const detail::RelayWriter::Outcome& outcome) {
    const auto& r = outcome.retained;
    if (r.deleted != 0 || r.dropped_unpublished != 0) {
      update_stats([&](RelayStats& s) {
        s.retention_deleted += r.deleted;
        s.retention_dropped += r.dropped_unpublished;
      });
    }
    if (outcome.saved == 0) return;
    update_stats([&](RelayStats& s) {
      s.checkpoints += outcome.saved;
      s.last_position = *outcome.last_position;
    });
    lease_renewed = std::max(lease_renewed, *outcome.last_start);
  }

  // The lease was last renewed (a save that succeeded) two renewal periods ago or more, or the loop
  // stalled that long: the relay may be close to losing it.
  bool lease_overdue(std::chrono::steady_clock::time_point now_steady) const {
    const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_ttl) / 3;
    return lease_timer->overdue(now_steady) || now_steady - lease_renewed >= 2 * period;
  }

  // Sleeps for the backoff, then hands failed messages to the sink again, in order: all of them
  // when every failure was retryable (a broker outage), or the first one alone when a message was
  // rejected permanently, so that one bad message cannot condemn the others it was batched with.
  void retry_failed() {
    const int attempt = window.retry_attempt();
    const auto delay = options.backoff.delay(attempt, std::uniform_real_distribution<double>(0, 1)(rng));
    mark_turn(delay);
    // The lease is renewed during the backoff as at any other time: once the delay grew past the
    // lease's TTL (a broker down for more than a few retries, such as a RabbitMQ restart of ~10 s
    // with a 3 s TTL), a relay that only waited lost its lease to the standby and then stopped.
    const auto until = std::chrono::steady_clock::now() + delay;
    const auto renewal = std::max<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_ttl) / 3, std::chrono::milliseconds(10));
    for (;;) {
      take_writes();
      const auto now_steady = std::chrono::steady_clock::now();
      if (lease_timer->due(now_steady)) {
        renew_lease();
        lease_timer->ran(now_steady);
      }
      if (now_steady >= until) break;
      const auto slice = std::min<std::chrono::steady_clock::duration>(until - now_steady, renewal);
      std::unique_lock lock(control_mutex);
      if (control_cv.wait_for(lock, slice, [&] { return stopping; })) return;
    }
    const std::vector<Message> batch = window.take_retry();
    update_stats([&](RelayStats& s) {
      s.retries += static_cast<std::int64_t>(batch.size());
      s.published += static_cast<std::int64_t>(batch.size());
    });
    sink.publish(batch);
  }

  void run() {
    const auto saved = acquire_lease();
    if (!saved) return;  // stopped while waiting for the lease
    last_read = *saved;
    // A new consumer has no checkpoint yet; "before position 1" is the store's own encoding of the
    // beginning, so lease renewals (which also record health) can save it from the start.
    saved_checkpoint = saved->empty() ? store.checkpoint_before(1) : *saved;
    // The tail is opened in the loop below, which waits out a database that fails for a while.
    set_phase(RelayState::Phase::running);
    spdlog::info("relay '{}' started: outbox '{}' -> {}, consumer '{}', resuming after checkpoint '{}'", options.owner,
                 options.outbox, sink.describe(), options.consumer, last_read.empty() ? "(beginning)" : last_read);
    const auto started = std::chrono::steady_clock::now();
    lease_renewed = started;  // acquire_lease() took it just now
    // Stores whose writes are safe beside their tail and other calls are written in the background.
    writer.emplace(
        [this](const std::string& checkpoint, const std::string& shown) {
          store.save_checkpoint(self, checkpoint, options.lease_ttl, shown);
        },
        [this] { return store.enforce_retention(options.outbox, *options.retention); },
        store.concurrent_relay_writes());
    // Whatever ends run(), no write is left running after it (the store may go away with it).
    struct EndWriter {
      std::optional<detail::RelayWriter>& w;
      ~EndWriter() { w.reset(); }
    } end_writer{writer};
    lease_timer.emplace(std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_ttl) / 3, started);
    retention_timer.emplace(options.retention_interval, std::chrono::steady_clock::time_point{});
    progress_timer.emplace(std::chrono::seconds(10), started);
    int store_failures = 0;
    try {
      while (!should_stop()) {
        mark_turn();
        try {
          if (!owned_tail) open_tail();
          if (!turn()) break;        // stop_when_idle and nothing left
          if (store_failures > 0) {  // an operator reading the warnings wants to see the end of the outage
            spdlog::info("outbox '{}': store reachable again after {} failed attempt{}; resuming after checkpoint '{}'",
                         options.outbox, store_failures, store_failures == 1 ? "" : "s",
                         last_read.empty() ? "(beginning)" : last_read);
          }
          store_failures = 0;
        } catch (const StoreError& e) {
          // The database is unavailable for a while (restart, failover, lock timeout): back off and
          // resume from what was read. Lease loss and other permanent errors end the relay.
          if (!e.retryable()) throw;
          wait_out_store_error(e, ++store_failures);
        }
      }
      set_phase(RelayState::Phase::stopping);
      shutdown();
    } catch (const LeaseLost&) {
      set_phase(RelayState::Phase::stopping);
      // Another relay owns the consumer now: a save or release would be refused, and must be.
      writer.reset();
      forget_tail();
      throw;
    } catch (...) {
      set_phase(RelayState::Phase::stopping);
      forget_tail();
      // A permanent failure (a corrupt database, a refused dead-letter write) ends the relay, but
      // what the sink acknowledged is still saved and the lease released, so that neither a restart
      // nor a standby pays for it.
      salvage();
      throw;
    }
    forget_tail();
  }

  // One turn of the loop: read and publish (when the window has room and no retry is pending),
  // take in the outcomes that arrived, checkpoint the resolved prefix, retry failures, and do the
  // periodic chores. Returns false when the relay should end (stop_when_idle, nothing new).
  bool turn() {
    // A relay that stalled (slow disk, slow broker call) may have let its lease run low: renew
    // before publishing more, so that a standby that took over is noticed (LeaseLost) before two
    // relays publish at once.
    // Background saves are taken in first: a lease lost in one ends the relay here.
    take_writes();
    if (lease_overdue(std::chrono::steady_clock::now())) {
      renew_lease(Wait::yes);
      lease_timer->ran(std::chrono::steady_clock::now());
    }
    bool read_any = false;
    if (window.recovering() == 0 && window.size() < options.max_in_flight) {
      auto batch = owned_tail->next(read_wait());
      if (!batch.empty()) {
        // A save may have failed during the read: nothing is published past a lost lease. (Before
        // last_read moves: after a retryable error the tail reopens there and reads this again.)
        take_writes();
        read_any = true;
        last_read = batch.back().checkpoint;
        publish_read(std::move(batch));
      } else if (window.empty()) {
        adopt_idle_checkpoint(*owned_tail);
        if (options.stop_when_idle) {
          // The end: the last saves are made here, in the loop, where a retryable failure of one is
          // waited out and the save made again (the final save in shutdown() has no such loop).
          writer->wait_idle();
          take_writes();
          persist(true, Wait::yes);
          // Retention keeps what the saved checkpoints have not passed: the chores after the last
          // save, on this thread, so that a drain ends with their outcome known.
          run_chores(std::chrono::steady_clock::now(), Wait::yes);
          return false;
        }
      }
    }
    const bool must_wait = window.in_flight() > 0 && !read_any;
    apply(sink.poll(must_wait ? std::chrono::milliseconds(50) : std::chrono::milliseconds(0)));
    advance();
    persist(false);
    if (window.failed() > 0 && window.in_flight() == 0) retry_failed();
    run_chores(std::chrono::steady_clock::now());
    return true;
  }

  // Hands a batch read from the tail to the sink and records it in the window. A replayed dead
  // letter meant for another consumer (outbox/replay.hpp) is passed over, not published: this
  // consumer had the original. It still enters the window, resolved, so that the checkpoint moves
  // past it in order and an outbox ending in such messages is caught up.
  void publish_read(std::vector<Message> batch) {
    std::vector<bool> passed_over;
    std::size_t skipped = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!replay_for_another_consumer(batch[i], options.consumer)) continue;
      if (passed_over.empty()) passed_over.resize(batch.size(), false);
      passed_over[i] = true;
      ++skipped;
    }
    const std::size_t n = batch.size() - skipped;
    update_stats([&](RelayStats& s) { s.published += static_cast<std::int64_t>(n); });
    if (skipped == 0) {
      // Publish from the batch, then move it into the window: no copy. Outcomes reported during
      // publish wait in the sink's queue until poll(), when the window has them.
      sink.publish(batch);
      window.add(std::move(batch));
      return;
    }
    spdlog::debug("outbox '{}': passing over {} replayed message(s) meant for another consumer", options.outbox,
                  skipped);
    if (n > 0) {
      std::vector<Message> ours;
      ours.reserve(n);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!passed_over[i]) ours.push_back(batch[i]);
      }
      sink.publish(ours);
    }
    window.add(std::move(batch), passed_over);
  }

  // How long the tail may wait for new messages: not at all while messages are in flight (their
  // outcomes need polling), and never past the time the checkpoint is due to be saved.
  std::chrono::milliseconds read_wait() const {
    // With stop_when_idle, "idle" means one short wait found nothing new.
    const auto idle_wait =
        options.stop_when_idle ? std::min(options.idle_wait, std::chrono::milliseconds(200)) : options.idle_wait;
    auto wait = window.empty() ? idle_wait : std::chrono::milliseconds(0);
    if (unsaved) {
      const auto due = std::chrono::duration_cast<std::chrono::milliseconds>(
          last_persist + options.checkpoint_interval - std::chrono::steady_clock::now());
      wait = std::min(std::max(due, std::chrono::milliseconds(1)), wait);
    }
    return wait;
  }

  // The periodic chores, each on its own timer. Retention runs on the writer's thread (posted) like
  // a save, unless `wait`.
  void run_chores(std::chrono::steady_clock::time_point now_steady, Wait wait = Wait::no) {
    if (lease_timer->due(now_steady)) {
      renew_lease();
      lease_timer->ran(now_steady);
    }
    if (options.retention && retention_timer->due(now_steady)) {
      if (wait == Wait::yes) {
        writer->retain_now();
      } else {
        writer->post_retention();
      }
      retention_timer->ran(now_steady);
      take_writes();
    }
    if (progress_timer->due(now_steady)) {
      log_progress(now_steady);
      progress_timer->ran(now_steady);
    }
  }

  void log_progress(std::chrono::steady_clock::time_point now_steady) {
    const auto s = stats_copy();
    spdlog::info(
        "relay progress: {} acknowledged ({} in the last {}s), {} in flight, {} dead-lettered, "
        "checkpoint at position {}",
        s.acknowledged, s.acknowledged - reported_acks,
        std::chrono::duration_cast<std::chrono::seconds>(progress_timer->since_last(now_steady)).count(),
        window.in_flight(), s.dead_lettered, s.last_position);
    reported_acks = s.acknowledged;
  }

  // (Re)opens the tail just after the last message read, e.g. after the database came back.
  void open_tail() {
    TailOptions tail_options;
    tail_options.batch_size = options.batch_size;
    tail_options.parse_data = false;  // sinks forward the stored JSON text
    tail_options.consumer = options.consumer;
    auto fresh =
        store.tail(options.outbox, last_read.empty() ? Cursor::beginning() : Cursor::after(last_read), tail_options);
    std::lock_guard lock(control_mutex);
    owned_tail = std::move(fresh);
    tail = owned_tail.get();
    if (stopping) tail->close();
  }

  // Drops the tail (stop() must no longer reach it); the next turn reopens it if the relay goes on.
  void forget_tail() {
    {
      std::lock_guard lock(control_mutex);
      tail = nullptr;
    }
    owned_tail.reset();
  }

  void wait_out_store_error(const StoreError& e, int failures) {
    const auto delay = options.backoff.delay(failures, std::uniform_real_distribution<double>(0, 1)(rng));
    spdlog::warn("outbox '{}': {}; retrying in {} ms", options.outbox, e.what(), delay.count());
    mark_turn(delay);
    forget_tail();
    std::unique_lock lock(control_mutex);
    control_cv.wait_for(lock, delay, [&] { return stopping; });
  }

  // Renewing saves the checkpoint too, so it is a forced persist.
  void renew_lease(Wait wait = Wait::no) {
    unsaved = true;
    persist(true, wait);
  }

  // Takes the consumer's lease. While another relay holds it, waits as a standby (if configured)
  // and takes over when that relay stops or its lease expires. Returns the saved checkpoint ("" for
  // a new consumer), or nullopt if stopped while waiting.
  std::optional<std::string> acquire_lease() {
    bool logged = false;
    int store_failures = 0;
    for (;;) {
      auto pause = std::min<std::chrono::milliseconds>(options.lease_ttl, std::chrono::seconds(1));
      try {
        return store.acquire(self, options.lease_ttl).value_or("");
      } catch (const LeaseLost& e) {
        if (!options.wait_for_lease) throw;
        if (!logged) spdlog::info("{}; waiting as a standby", e.what());
        logged = true;
        set_phase(RelayState::Phase::standby, e.what());
      } catch (const StoreError& e) {
        // A database that is down or restarting when the relay starts is waited for, as it is
        // later on; a permanent error (bad credentials, no such outbox) ends the relay at once.
        if (!e.retryable()) throw;
        pause = options.backoff.delay(++store_failures, std::uniform_real_distribution<double>(0, 1)(rng));
        spdlog::warn("outbox '{}': {}; retrying in {} ms", options.outbox, e.what(), pause.count());
      }
      mark_turn(pause);
      std::unique_lock lock(control_mutex);
      if (control_cv.wait_for(lock, pause, [&] { return stopping; })) return std::nullopt;
    }
  }

  // Waits (bounded) for in-flight outcomes, then checkpoints what was acknowledged.
  // The drain renews the lease (with the acknowledged prefix) every lease_ttl/3: a drain longer
  // than the lease let a standby take over mid-drain, and the draining relay then either failed
  // its final save (LeaseLost) or, with nothing left to save, exited while the standby published.
  void shutdown() {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + options.shutdown_timeout;
    const auto renewal = std::chrono::duration_cast<std::chrono::milliseconds>(options.lease_ttl) / 3;
    auto last_renewal = start - renewal;  // renew at once: the last one may be ttl/3 old
    while (window.in_flight() > 0) {
      mark_turn();
      const auto now_steady = std::chrono::steady_clock::now();
      if (now_steady >= deadline) break;
      if (now_steady - last_renewal >= renewal) {
        advance();
        renew_lease(Wait::yes);
        last_renewal = now_steady;
      }
      const auto step =
          std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now_steady),
                   std::chrono::duration_cast<std::chrono::milliseconds>(last_renewal + renewal - now_steady));
      sink.flush(std::max(step, std::chrono::milliseconds(1)));
      apply(sink.poll(std::chrono::milliseconds(10)));
    }
    advance();
    // Waits for the writer, then saves here: the last acknowledged prefix is never left to a
    // background save, and no write runs while the lease is released.
    settle_writes();
    persist(true, Wait::yes);
    if (window.in_flight() > 0 || window.failed() > 0) {
      spdlog::warn("relay stopping with {} messages unacknowledged; they will be published again on restart",
                   window.in_flight() + window.failed());
    }
    store.release(self);
    const auto s = stats_copy();
    spdlog::info("relay stopped: {} acknowledged, {} retries, {} dead-lettered; checkpoint at position {}",
                 s.acknowledged, s.retries, s.dead_lettered, s.last_position);
  }

  // Best effort on the way out after a permanent error: apply the outcomes that are in, save the
  // acknowledged prefix, release the lease. Each step's failure is logged, never thrown over the
  // error that ended the relay.
  void salvage() noexcept {
    try {
      apply(sink.poll(std::chrono::milliseconds(0)));
    } catch (const std::exception& e) {
      spdlog::warn("outbox '{}': while stopping: {}", options.outbox, e.what());
    }
    try {
      advance();
      settle_writes();
      persist(true, Wait::yes);
    } catch (const std::exception& e) {
      spdlog::warn("outbox '{}': could not save the checkpoint at position {} while stopping: {}", options.outbox,
                   resolved_position, e.what());
    }
    try {
      store.release(self);
    } catch (const std::exception& e) {
      spdlog::warn(
          "outbox '{}': could not release the lease while stopping ({}); a standby takes over when it "
          "expires",
          options.outbox, e.what());
    }
  }

  RelayStats stats_copy() {
    std::lock_guard lock(control_mutex);
    return stats;
  }
};

Relay::Relay(Store& store, Sink& sink, RelayOptions options)
    : impl_(std::make_unique<Impl>(store, sink, std::move(options))) {}
Relay::~Relay() = default;

void Relay::run() { impl_->run(); }

void Relay::stop() {
  std::lock_guard lock(impl_->control_mutex);
  impl_->stopping = true;
  if (impl_->tail) impl_->tail->close();
  impl_->control_cv.notify_all();
}

RelayStats Relay::stats() const { return impl_->stats_copy(); }

RelayState Relay::state() const {
  RelayState s;
  s.last_turn = std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(impl_->last_turn_ns.load(std::memory_order_relaxed)));
  std::lock_guard lock(impl_->control_mutex);
  s.phase = impl_->stopping ? RelayState::Phase::stopping : impl_->phase;
  if (s.phase == RelayState::Phase::standby) s.standby_reason = impl_->standby_reason;
  return s;
}

}  // namespace outbox

// The relay/CLI side of the MongoDB store: tails, checkpoints with leases, dead letters, retention
// and status, over a client pool of its own (each call borrows a client; each tail keeps one).
#include <spdlog/spdlog.h>

#include <mutex>

#include "capped_tail.hpp"
#include "client.hpp"
#include "layout.hpp"
#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/names.hpp"
#include "outbox/prepare_put.hpp"
#include "outbox/replay.hpp"
#include "outbox/uuid.hpp"
#include "poll_tail.hpp"
#include "store/mongodb/change_stream_start.hpp"
#include "store/mongodb/change_stream_tail.hpp"
#include "store/mongodb/driver.hpp"
#include "store/mongodb/transactional_put.hpp"

namespace outbox::mongodb {

namespace {

using namespace detail;

std::int64_t now_us() { return now().time_since_epoch().count(); }

std::string consumer_id(const std::string& outbox, const std::string& consumer) { return outbox + "/" + consumer; }

class MongoStore final : public Store {
 public:
  explicit MongoStore(StoreUri uri) : uri_(std::move(uri)), pool_(uri_) {
    if (uri_.mode) parse_mode(*uri_.mode);  // a typo fails at open, not at first use
  }

  void init(const std::string& outbox) override {
    check_outbox_name(outbox);
    OutboxOptions o;
    if (uri_.mode) o.mode = parse_mode(*uri_.mode);
    if (uri_.capped_size) o.capped_size_bytes = *uri_.capped_size;
    if (uri_.capped_max && *uri_.capped_max > 0) o.capped_max_documents = *uri_.capped_max;
    if (uri_.ttl_seconds && *uri_.ttl_seconds > 0) o.ttl = std::chrono::seconds(*uri_.ttl_seconds);
    PooledClient c(pool_);
    init_outbox(c.get(), uri_.database, outbox, o, capabilities(c.get()), "'" + uri_.redacted + "'");
  }

  std::vector<std::string> outboxes() override {
    PooledClient c(pool_);
    Collection coll(c.get(), uri_.database, kOutboxes);
    Bson all;
    Bson opts(BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}"));
    MongoCursor cursor(mongoc_collection_find_with_opts(coll.get(), all.get(), opts.get(), nullptr));
    std::vector<std::string> out;
    while (const bson_t* doc = cursor.next("listing outboxes")) {
      if (auto name = get_string(*doc, "_id")) out.push_back(*name);
    }
    return out;
  }

  Message put(const SchemaRegistry& registry, Message m) override {
    const std::string outbox = m.outbox;
    const Settings s = settings(outbox);
    PooledClient c(pool_);
    // Validate with the caller's registry, then write through the same path as Outbox::put.
    prepare_put(outbox, registry, m);
    if (s.mode == Mode::transactional) {
      put_in_own_transaction(c.get(), outbox, m);
      return m;
    }
    m.position = insert_with_position(c.get(), uri_.database, outbox, m);
    return m;
  }

  std::unique_ptr<Tail> tail(const std::string& outbox, const Cursor& from, const TailOptions& options) override {
    const Settings s = settings(outbox);
    std::int64_t after = 0;
    if (s.mode != Mode::transactional) {
      if (from.kind == Cursor::Kind::after)
        after = parse_position_checkpoint(from.checkpoint);
      else if (from.kind == Cursor::Kind::end)
        after = end_position(outbox);
    }
    const std::chrono::milliseconds gap_timeout(uri_.gap_timeout_ms.value_or(1000));
    switch (s.mode) {
      case Mode::poll:
        return std::make_unique<PollTail>(pool_, uri_.database, outbox, after, options, gap_timeout);
      case Mode::capped:
        return std::make_unique<CappedTail>(pool_, uri_.database, outbox, after, options, gap_timeout);
      case Mode::transactional:
        break;
    }
    const ChangeStreamStart start = change_stream_start(from, s, outbox);
    ChangeStreamTailOptions o;
    o.database = uri_.database;
    o.collection = message_collection(outbox);
    o.outbox = outbox;
    o.tail = options;
    mongoc_client_pool_t* pool = pool_.get();
    auto driver = libmongoc_driver(mongoc_client_pool_pop(pool),
                                   [pool](mongoc_client_t* c) { mongoc_client_pool_push(pool, c); });
    return std::make_unique<ChangeStreamTail>(std::move(driver), o, start, positions_);
  }

  std::string checkpoint_before(std::int64_t position) override {
    return encode_position(std::max<std::int64_t>(0, position - 1));
  }

  std::string checkpoint_at_end(const std::string& outbox) override {
    if (settings(outbox).mode == Mode::transactional) return resume_token_now(outbox);
    return encode_position(end_position(outbox));
  }

  std::optional<std::string> acquire(const ConsumerRef& ref, std::chrono::seconds ttl) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    check_identifier(consumer, "consumer name");
    settings(outbox);
    PooledClient c(pool_);
    Collection consumers(c.get(), uri_.database, kConsumers);
    const std::string id = consumer_id(outbox, consumer);
    const std::string doing = "taking the lease of consumer '" + consumer + "'";
    register_consumer(consumers, outbox, consumer);
    const std::int64_t now = now_ms();
    // Atomic per document: free, ours, or expired -> ours.
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str()), "$or", "[", "{", "owner", BCON_NULL, "}", "{", "owner",
                         BCON_UTF8(owner.c_str()), "}", "{", "lease_until_ms", "{", "$lt", BCON_INT64(now), "}", "}",
                         "]"));
    Bson update(BCON_NEW("$set", "{", "owner", BCON_UTF8(owner.c_str()), "lease_until_ms",
                         BCON_INT64(now + ttl.count() * 1000), "updated_us", BCON_INT64(now_us()), "health",
                         BCON_UTF8("starting"), "}"));
    if (consumers.update_one(*filter, *update, false, doing) == 0) {
      Bson by_id(BCON_NEW("_id", BCON_UTF8(id.c_str())));
      auto doc = consumers.find_one(*by_id, nullptr, doing);
      const std::string holder = doc ? get_string(**doc, "owner").value_or("?") : "?";
      const std::int64_t left = doc ? get_int64(**doc, "lease_until_ms") - now : 0;
      throw LeaseLost("consumer '" + consumer + "' of outbox '" + outbox + "' is held by relay '" + holder +
                      "' for another " + std::to_string(left) + " ms; stop that relay, or use another consumer name");
    }
    Bson by_id(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    auto doc = consumers.find_one(*by_id, nullptr, doing);
    std::optional<std::string> checkpoint;
    if (doc) checkpoint = get_string(**doc, "checkpoint");
    return checkpoint;
  }

  // Every call borrows its own client from the (thread-safe) pool; each tail keeps one of its own.
  bool concurrent_relay_writes() const override { return true; }

  void save_checkpoint(const ConsumerRef& ref, const std::string& checkpoint, std::chrono::seconds ttl,
                       const std::string& health) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    validate_checkpoint(checkpoint);
    PooledClient c(pool_);
    Collection consumers(c.get(), uri_.database, kConsumers);
    const std::string id = consumer_id(outbox, consumer);
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str()), "owner", BCON_UTF8(owner.c_str())));
    Bson update(BCON_NEW("$set", "{", "checkpoint", BCON_UTF8(checkpoint.c_str()), "lease_until_ms",
                         BCON_INT64(now_ms() + ttl.count() * 1000), "updated_us", BCON_INT64(now_us()), "health",
                         BCON_UTF8(health.c_str()), "}"));
    if (consumers.update_one(*filter, *update, false, "saving the checkpoint of consumer '" + consumer + "'") == 0) {
      throw LeaseLost("relay '" + owner + "' no longer holds consumer '" + consumer + "' of outbox '" + outbox +
                      "' (another relay took it over, or it was reset); this relay stops");
    }
  }

  void release(const ConsumerRef& ref) override {
    const std::string& outbox = ref.outbox;
    const std::string& consumer = ref.consumer;
    const std::string& owner = ref.owner;
    PooledClient c(pool_);
    Collection consumers(c.get(), uri_.database, kConsumers);
    const std::string id = consumer_id(outbox, consumer);
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str()), "owner", BCON_UTF8(owner.c_str())));
    Bson update(BCON_NEW("$set", "{", "owner", BCON_NULL, "lease_until_ms", BCON_INT64(0), "health",
                         BCON_UTF8("stopped"), "}"));
    consumers.update_one(*filter, *update, false, "releasing consumer '" + consumer + "'");
  }

  void seek(const std::string& outbox, const std::string& consumer, const std::string& checkpoint) override {
    check_identifier(consumer, "consumer name");
    const Settings s = settings(outbox);
    validate_checkpoint(checkpoint);
    if (s.mode == Mode::transactional && is_position_checkpoint(checkpoint) &&
        parse_position_checkpoint(checkpoint) != 0) {
      throw UsageError("outbox '" + outbox +
                       "' is in transactional mode: its messages have no stored positions; "
                       "seek to the beginning or the end");
    }
    PooledClient c(pool_);
    Collection consumers(c.get(), uri_.database, kConsumers);
    register_consumer(consumers, outbox, consumer);
    const std::string id = consumer_id(outbox, consumer);
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str()), "$or", "[", "{", "owner", BCON_NULL, "}", "{", "lease_until_ms",
                         "{", "$lt", BCON_INT64(now_ms()), "}", "}", "]"));
    Bson update(BCON_NEW("$set", "{", "checkpoint", BCON_UTF8(checkpoint.c_str()), "updated_us", BCON_INT64(now_us()),
                         "health", BCON_UTF8("seeked"), "}"));
    if (consumers.update_one(*filter, *update, false, "seeking consumer '" + consumer + "'") == 0) {
      Bson by_id(BCON_NEW("_id", BCON_UTF8(id.c_str())));
      auto doc = consumers.find_one(*by_id, nullptr, "seeking consumer '" + consumer + "'");
      throw UsageError("consumer '" + consumer + "' is in use by relay '" +
                       (doc ? get_string(**doc, "owner").value_or("?") : std::string("?")) +
                       "'; stop that relay before seeking");
    }
  }

  void dead_letter(const std::string& consumer, const Message& m, const std::string& error, int attempts) override {
    PooledClient c(pool_);
    Collection outboxes(c.get(), uri_.database, kOutboxes);
    Bson id(BCON_NEW("_id", BCON_UTF8(m.outbox.c_str())));
    Bson inc(BCON_NEW("$inc", "{", "last_dead_letter", BCON_INT64(1), "}"));
    auto counter = outboxes.find_and_modify(*id, *inc, false, "numbering a dead letter");
    if (!counter) throw UsageError("outbox '" + m.outbox + "' does not exist");
    const std::string line = to_json_line(m);
    Bson doc(BCON_NEW("seq", BCON_INT64(get_int64(**counter, "last_dead_letter")), "outbox",
                      BCON_UTF8(m.outbox.c_str()), "consumer", BCON_UTF8(consumer.c_str()), "pos",
                      BCON_INT64(m.position), "message", BCON_UTF8(line.c_str()), "error", BCON_UTF8(error.c_str()),
                      "attempts", BCON_INT32(attempts), "failed_us", BCON_INT64(now_us())));
    Collection(c.get(), uri_.database, kDeadLetters).insert(*doc, "writing a dead letter");
  }

  std::vector<DeadLetter> dead_letters(const std::string& outbox, std::size_t limit) override {
    PooledClient c(pool_);
    Collection coll(c.get(), uri_.database, kDeadLetters);
    Bson filter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str())));
    Bson opts(BCON_NEW("sort", "{", "seq", BCON_INT32(1), "_id", BCON_INT32(1), "}", "limit",
                       BCON_INT64(static_cast<std::int64_t>(limit))));
    MongoCursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    std::vector<DeadLetter> out;
    while (const bson_t* doc = cursor.next("reading dead letters")) out.push_back(read_dead_letter(*doc));
    return out;
  }

  // No multi-document transaction here (FerretDB and standalone servers have none), so a replay is
  // made safe to repeat instead: each replayed document's _id is derived from its dead letter's id
  // ("replay-<id>", unique in the outbox's collection), it is inserted first and the dead letter
  // removed after. A replay interrupted in between finds its document on the next run, keeps it
  // and only removes the dead letter; two replays at once cannot both insert it.
  std::vector<ReplayedDeadLetter> replay_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                                      bool force) override {
    const Settings s = settings(outbox);
    if (which.consumer) check_identifier(*which.consumer, "consumer name");
    PooledClient c(pool_);
    auto chosen = choose_dead_letters(c.get(), outbox, which, force);
    sort_for_replay(chosen);
    Collection messages(c.get(), uri_.database, message_collection(outbox));
    Collection dead(c.get(), uri_.database, kDeadLetters);
    const std::string doing = "replaying dead letters of outbox '" + outbox + "'";
    std::vector<ReplayedDeadLetter> out;
    for (const auto& d : chosen) {
      const Message m = replay_message(d, outbox);
      const std::string document_id = "replay-" + std::to_string(d.id);
      std::int64_t position = 0;
      Bson by_id(BCON_NEW("_id", BCON_UTF8(document_id.c_str())));
      if (auto earlier = messages.find_one(*by_id, nullptr, doing)) {
        position = get_int64(**earlier, "pos");
      } else if (s.mode == Mode::transactional) {
        messages.insert(*replay_document(m, document_id), doing);  // no positions in this mode
      } else {
        position = insert_with_position(c.get(), uri_.database, outbox, m, document_id);
      }
      Bson letter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str()), "seq", BCON_INT64(d.id)));
      dead.delete_many(*letter, doing);
      out.push_back({d.id, d.consumer, m.id, d.message.position, position});
    }
    return out;
  }

  std::vector<DeadLetter> purge_dead_letters(const std::string& outbox, const DeadLetterFilter& which,
                                             bool force) override {
    settings(outbox);
    if (which.consumer) check_identifier(*which.consumer, "consumer name");
    PooledClient c(pool_);
    auto chosen = choose_dead_letters(c.get(), outbox, which, force);
    Collection dead(c.get(), uri_.database, kDeadLetters);
    for (const auto& d : chosen) {
      Bson letter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str()), "seq", BCON_INT64(d.id)));
      dead.delete_many(*letter, "purging dead letters of outbox '" + outbox + "'");
    }
    return chosen;
  }

  RetentionResult enforce_retention(const std::string& outbox, const RetentionPolicy& policy) override {
    const Settings s = settings(outbox);
    RetentionResult result;
    if (s.mode != Mode::poll) return result;  // capped: the cap is the retention; transactional: the TTL index
    PooledClient c(pool_);
    Collection messages(c.get(), uri_.database, message_collection(outbox));
    const std::string doing = "retention of outbox '" + outbox + "'";
    // Passed by every registered consumer (everything, when none is registered).
    std::int64_t passed = INT64_MAX;
    for (const auto& [name, cp] : consumer_positions(c.get(), outbox)) passed = std::min(passed, cp);
    auto nth_newest = [&](std::int64_t n) -> std::int64_t {  // position of the n-th newest, or 0
      if (n <= 0) return INT64_MAX;                          // keep none: every document is below the "0th newest"
      Bson all;
      Bson opts(BCON_NEW("sort", "{", "pos", BCON_INT32(-1), "}", "skip", BCON_INT64(std::max<std::int64_t>(0, n - 1)),
                         "limit", BCON_INT64(1)));
      MongoCursor cursor(mongoc_collection_find_with_opts(messages.get(), all.get(), opts.get(), nullptr));
      const bson_t* doc = cursor.next(doing);
      return doc ? get_int64(*doc, "pos") : 0;
    };
    const auto batch = static_cast<std::int64_t>(std::max<std::size_t>(1, policy.batch_size));
    // Bounded batches: find the next ids, delete exactly those.
    // Raised before anything at or below it is deleted (a writer checks it after inserting).
    auto retire_to = [&](std::int64_t pos) {
      Collection outboxes(c.get(), uri_.database, kOutboxes);
      Bson id(BCON_NEW("_id", BCON_UTF8(outbox.c_str())));
      Bson raise(BCON_NEW("$max", "{", "retired_to", BCON_INT64(pos), "}"));
      outboxes.update_one(*id, *raise, false, doing);
    };
    auto delete_batches = [&](const bson_t& filter) {
      std::int64_t total = 0;
      for (;;) {
        Bson opts(BCON_NEW("sort", "{", "pos", BCON_INT32(1), "}", "limit", BCON_INT64(batch), "projection", "{", "_id",
                           BCON_INT32(1), "pos", BCON_INT32(1), "}"));
        MongoCursor cursor(mongoc_collection_find_with_opts(messages.get(), &filter, opts.get(), nullptr));
        Bson ids_filter;
        bson_t in, arr;
        BSON_APPEND_DOCUMENT_BEGIN(ids_filter.get(), "_id", &in);
        BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
        int n = 0;
        std::int64_t last_pos = 0;
        while (const bson_t* doc = cursor.next(doing)) {
          last_pos = std::max(last_pos, get_int64(*doc, "pos"));
          bson_iter_t it;
          if (bson_iter_init_find(&it, doc, "_id")) {
            const std::string key = std::to_string(n++);
            bson_append_iter(&arr, key.c_str(), -1, &it);
          }
        }
        bson_append_array_end(&in, &arr);
        bson_append_document_end(ids_filter.get(), &in);
        if (n == 0) return total;
        retire_to(last_pos);
        total += messages.delete_many(*ids_filter, doing);
        if (n < batch) return total;
      }
    };
    if (policy.max_count || policy.max_age) {
      const std::int64_t limit = policy.max_count ? nth_newest(*policy.max_count) : 0;
      const std::int64_t cutoff = policy.max_age ? now_us() - policy.max_age->count() * 1'000'000 : INT64_MIN;
      Bson filter(BCON_NEW("pos", "{", "$lte", BCON_INT64(passed), "}", "$or", "[", "{", "pos", "{", "$lt",
                           BCON_INT64(limit), "}", "}", "{", "created_us", "{", "$lt", BCON_INT64(cutoff), "}", "}",
                           "{", "tombstone", BCON_BOOL(true), "}", "]"));
      result.deleted += delete_batches(*filter);
    }
    if (policy.hard_max_count) {
      const std::int64_t hard = nth_newest(*policy.hard_max_count);
      if (hard > 0) {
        Bson unpassed(BCON_NEW("pos", "{", "$lt", BCON_INT64(hard), "$gt", BCON_INT64(passed), "}", "tombstone", "{",
                               "$exists", BCON_BOOL(false), "}"));
        const std::int64_t unpublished = passed == INT64_MAX ? 0 : messages.count(*unpassed, doing);
        Bson below(BCON_NEW("pos", "{", "$lt", BCON_INT64(hard), "}"));
        result.deleted += delete_batches(*below);
        if (unpublished > 0) {
          result.dropped_unpublished = unpublished;
          Collection outboxes(c.get(), uri_.database, kOutboxes);
          Bson id(BCON_NEW("_id", BCON_UTF8(outbox.c_str())));
          Bson inc(BCON_NEW("$inc", "{", "dropped", BCON_INT64(unpublished), "}"));
          outboxes.update_one(*id, *inc, false, doing);
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
    const Settings s = settings(outbox);
    PooledClient c(pool_);
    Collection messages(c.get(), uri_.database, message_collection(outbox));
    const std::string doing = "status of outbox '" + outbox + "'";
    OutboxStatus st;
    st.name = outbox;
    Bson real(BCON_NEW("tombstone", "{", "$exists", BCON_BOOL(false), "}"));
    st.count = messages.count(*real, doing);
    Bson asc(BCON_NEW("pos", BCON_INT32(1)));
    Bson desc(BCON_NEW("pos", BCON_INT32(-1)));
    std::optional<std::int64_t> oldest_present;
    if (s.mode == Mode::transactional) {
    } else if (auto d = messages.find_one(*real, asc.get(), doing)) {
      st.oldest_position = oldest_present = get_int64(**d, "pos");
      st.oldest_created = Timestamp(std::chrono::microseconds(get_int64(**d, "created_us")));
    }
    if (s.mode == Mode::transactional) {
    } else if (auto d = messages.find_one(*real, desc.get(), doing)) {
      st.newest_position = get_int64(**d, "pos");
      st.newest_created = Timestamp(std::chrono::microseconds(get_int64(**d, "created_us")));
    }
    const auto now_ts = now();
    Collection consumers(c.get(), uri_.database, kConsumers);
    Bson filter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str())));
    Bson opts(BCON_NEW("sort", "{", "consumer", BCON_INT32(1), "}"));
    MongoCursor cursor(mongoc_collection_find_with_opts(consumers.get(), filter.get(), opts.get(), nullptr));
    while (const bson_t* doc = cursor.next(doing)) {
      ConsumerStatus cs;
      cs.name = get_string(*doc, "consumer").value_or("");
      cs.checkpoint = get_string(*doc, "checkpoint").value_or("");
      const std::int64_t cp = is_position_checkpoint(cs.checkpoint) ? parse_position_checkpoint(cs.checkpoint) : 0;
      if (cp > 0) cs.position = cp;
      cs.owner = get_string(*doc, "owner").value_or("");
      cs.lease_active = !cs.owner.empty() && get_int64(*doc, "lease_until_ms") > now_ms();
      cs.updated = Timestamp(std::chrono::microseconds(get_int64(*doc, "updated_us")));
      cs.health = get_string(*doc, "health").value_or("");
      Bson lag(BCON_NEW("pos", "{", "$gt", BCON_INT64(cp), "}", "tombstone", "{", "$exists", BCON_BOOL(false), "}"));
      // Transactional mode: a resume token says nothing about which documents were passed.
      if (s.mode != Mode::transactional) cs.lag_messages = messages.count(*lag, doing);
      if (s.mode == Mode::transactional) {
      } else if (auto d = messages.find_one(*lag, asc.get(), doing)) {
        const Timestamp oldest{std::chrono::microseconds(get_int64(**d, "created_us"))};
        cs.lag_seconds = std::max(0.0, std::chrono::duration<double>(now_ts - oldest).count());
      }
      if (s.mode == Mode::capped && oldest_present && *oldest_present > cp + 1 && cp > 0) {
        // Its next message is gone: the tail will count and report it when it reaches this point.
        cs.health += "; about " + std::to_string(*oldest_present - cp - 1) +
                     " messages it had not passed rolled off the capped collection";
      }
      st.consumers.push_back(std::move(cs));
    }
    Collection dl(c.get(), uri_.database, kDeadLetters);
    st.dead_letters = dl.count(*filter, doing);
    st.dropped = s.dropped;
    return st;
  }

 private:
  static DeadLetter read_dead_letter(const bson_t& doc) {
    DeadLetter d;
    d.id = get_int64(doc, "seq");
    d.consumer = get_string(doc, "consumer").value_or("");
    d.message = message_from_json(nlohmann::json::parse(get_string(doc, "message").value_or("{}")));
    d.error = get_string(doc, "error").value_or("");
    d.attempts = static_cast<int>(get_int64(doc, "attempts"));
    d.failed_at = Timestamp(std::chrono::microseconds(get_int64(doc, "failed_us")));
    return d;
  }

  // The dead letters `which` names, by id; unless `force`, throws ConsumerInUse when a relay holds
  // the lease of a consumer among them (checked before anything changes).
  std::vector<DeadLetter> choose_dead_letters(mongoc_client_t* client, const std::string& outbox,
                                              const DeadLetterFilter& which, bool force) {
    Collection coll(client, uri_.database, kDeadLetters);
    Bson filter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str())));
    if (which.id) BSON_APPEND_INT64(filter.get(), "seq", *which.id);
    if (which.consumer) BSON_APPEND_UTF8(filter.get(), "consumer", which.consumer->c_str());
    if (which.older_than) {
      bson_t range;
      BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "failed_us", &range);
      BSON_APPEND_INT64(&range, "$lte", now_us() - which.older_than->count() * 1'000'000);
      bson_append_document_end(filter.get(), &range);
    }
    Bson opts(BCON_NEW("sort", "{", "seq", BCON_INT32(1), "}"));
    MongoCursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    std::vector<DeadLetter> chosen;
    while (const bson_t* doc = cursor.next("reading dead letters")) chosen.push_back(read_dead_letter(*doc));
    if (force) return chosen;
    Collection consumers(client, uri_.database, kConsumers);
    for (const auto& d : chosen) {
      const std::string id = consumer_id(outbox, d.consumer);
      Bson by_id(BCON_NEW("_id", BCON_UTF8(id.c_str())));
      auto doc = consumers.find_one(*by_id, nullptr, "reading consumer '" + d.consumer + "'");
      if (!doc) continue;
      const std::string owner = get_string(**doc, "owner").value_or("");
      const std::int64_t left = get_int64(**doc, "lease_until_ms") - now_ms();
      if (!owner.empty() && left > 0) throw consumer_in_use(outbox, d.consumer, owner, left);
    }
    return chosen;
  }

  const Capabilities& capabilities(mongoc_client_t* client) {
    std::lock_guard lock(mutex_);
    if (!caps_) caps_ = detect_capabilities(client, uri_.redacted);
    return *caps_;
  }

  // The outbox's stored settings; UsageError when it does not exist or the URI asks for another mode.
  Settings settings(const std::string& outbox) {
    check_outbox_name(outbox);
    PooledClient c(pool_);
    auto s = read_settings(c.get(), uri_.database, outbox);
    if (!s) {
      throw NoSuchOutbox("outbox '" + outbox + "' does not exist in '" + uri_.redacted + "' (database '" +
                             uri_.database +
                             "'); create it first (with outboxMode=poll or capped in the URI on a "
                             "server without a replica set)",
                         outbox);
    }
    if (uri_.mode && parse_mode(*uri_.mode) != s->mode) {
      throw UsageError("the store URI asks for outboxMode=" + *uri_.mode + " but outbox '" + outbox + "' is in " +
                       to_string(s->mode) + " mode; drop the option or make it match");
    }
    return *s;
  }

  std::int64_t end_position(const std::string& outbox) {
    PooledClient c(pool_);
    Collection messages(c.get(), uri_.database, message_collection(outbox));
    Bson all;
    Bson desc(BCON_NEW("pos", BCON_INT32(-1)));
    auto d = messages.find_one(*all, desc.get(), "finding the end of outbox '" + outbox + "'");
    return d ? get_int64(**d, "pos") : 0;
  }

  void register_consumer(const Collection& consumers, const std::string& outbox, const std::string& consumer) {
    const std::string id = consumer_id(outbox, consumer);
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    Bson update(BCON_NEW("$setOnInsert", "{", "outbox", BCON_UTF8(outbox.c_str()), "consumer",
                         BCON_UTF8(consumer.c_str()), "owner", BCON_NULL, "lease_until_ms", BCON_INT64(0), "updated_us",
                         BCON_INT64(now_us()), "health", BCON_UTF8("new"), "}"));
    consumers.update_one(*filter, *update, true, "registering consumer '" + consumer + "'");
  }

  std::vector<std::pair<std::string, std::int64_t>> consumer_positions(mongoc_client_t* client,
                                                                       const std::string& outbox) {
    Collection consumers(client, uri_.database, kConsumers);
    Bson filter(BCON_NEW("outbox", BCON_UTF8(outbox.c_str())));
    MongoCursor cursor(mongoc_collection_find_with_opts(consumers.get(), filter.get(), nullptr, nullptr));
    std::vector<std::pair<std::string, std::int64_t>> out;
    while (const bson_t* doc = cursor.next("reading consumers")) {
      const auto cp = get_string(*doc, "checkpoint");
      out.emplace_back(get_string(*doc, "consumer").value_or(""),
                       cp && is_position_checkpoint(*cp) ? parse_position_checkpoint(*cp) : 0);
    }
    return out;
  }

  // A checkpoint of any mode: a position, or a change stream's resume token. UsageError otherwise.
  static void validate_checkpoint(const std::string& checkpoint) {
    if (is_position_checkpoint(checkpoint))
      parse_position_checkpoint(checkpoint);
    else
      ChangeStreamStart::resume_after(checkpoint);
  }

  // `outbox put` for a transactional outbox: a transaction of its own around the insert.
  void put_in_own_transaction(mongoc_client_t* client, const std::string& outbox, const Message& m) {
    bson_error_t error;
    mongoc_client_session_t* session = mongoc_client_start_session(client, nullptr, &error);
    if (session == nullptr) fail(error, "starting a session for put into outbox '" + outbox + "'");
    struct End {
      mongoc_client_session_t* s;
      ~End() { mongoc_client_session_destroy(s); }  // aborts the transaction if it is still open
    } end{session};
    if (!mongoc_client_session_start_transaction(session, nullptr, &error)) {
      fail(error, "starting a transaction for put into outbox '" + outbox + "'");
    }
    auto driver = libmongoc_driver(client);
    put_in_transaction(*driver, session, uri_.database, message_collection(outbox), m);
    bson_t reply;
    const bool ok = mongoc_client_session_commit_transaction(session, &reply, &error);
    Bson owned(bson_copy(&reply));
    bson_destroy(&reply);
    if (!ok) fail(error, "committing put into outbox '" + outbox + "'", owned.get());
  }

  // The resume token of "now" (for `seek --to end` in transactional mode); see change_stream_start.hpp.
  std::string resume_token_now(const std::string& outbox) {
    PooledClient c(pool_);
    auto driver = libmongoc_driver(c.get());
    return mongodb::resume_token_now(*driver, uri_.database, message_collection(outbox), outbox);
  }

  StoreUri uri_;
  Pool pool_;
  std::shared_ptr<PositionSequence> positions_ = std::make_shared<PositionSequence>();
  std::mutex mutex_;
  std::optional<Capabilities> caps_;
};

}  // namespace

std::unique_ptr<Store> open(const std::string& uri, const StoreOptions&) {
  return std::make_unique<MongoStore>(parse_store_uri(uri));
}

}  // namespace outbox::mongodb

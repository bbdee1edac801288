// The crash test's writer against MongoDB in poll or capped mode (the outbox's mode, chosen by the
// test when it created the outbox): outbox::mongodb::Outbox::put(client, m) writes one message,
// with no transaction around it. What the harness's words mean here:
//   transaction   1 to 3 puts one after the other; nothing makes them atomic.
//   committed     every put of the transaction succeeded. After each put the writer inserts the
//                 business document (writer, seq, idx, key, key_seq, _id = the message's id,
//                 position) into crash_business. Writers are never killed (only the relay is) and
//                 stop at their first error, which fails the test; so crash_business holds exactly
//                 the messages that were put, read from the database rather than from the library.
//   rolled back   a fifth of the transactions put messages that break their schema (key_seq is
//                 not an integer): put must refuse each one with ValidationError before anything is
//                 sent, so nothing of such a transaction may ever be delivered (the checker finds
//                 its writer and seq in the data). A transaction cannot be undone in these modes;
//                 a refused write is the equivalent that leaves nothing behind.
//   key order     each writer has keys of its own, w<writer>k<n> (CrashProfile::keys_per_writer),
//                 numbered by the writer alone. Without a transaction no shared counter can be
//                 bumped atomically with the put: two writers could take key_seq 5 and 6 of a key
//                 and put them in the other order (and FerretDB 1.24 even loses concurrent $inc
//                 updates, docs/mongodb.md). The order these modes promise for a key is one
//                 writer's order of puts, and that is what these keys check.
//
// A write that fails may or may not have happened (FerretDB 1.24 on SQLite now and then answers a
// put with "interrupted" while relays are being killed, after the message was inserted). As an
// application should (docs/mongodb.md: put's StoreError), the writer then asks the database
// whether the document with that id is there, and writes it again (same id) only if it is not: the
// database decides, so the ground truth stays exact. Each such recovery is counted and logged.
#include <mongoc/mongoc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crash_writer.hpp"
#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/uuid.hpp"

namespace outbox::crash {

namespace {

struct Driver {
  Driver() { mongoc_init(); }
  ~Driver() { mongoc_cleanup(); }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;
};

template <class T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const { Destroy(p); }
};
using Uri = std::unique_ptr<mongoc_uri_t, Deleter<mongoc_uri_t, mongoc_uri_destroy>>;
using Client = std::unique_ptr<mongoc_client_t, Deleter<mongoc_client_t, mongoc_client_destroy>>;
using Collection = std::unique_ptr<mongoc_collection_t, Deleter<mongoc_collection_t, mongoc_collection_destroy>>;
using Cursor = std::unique_ptr<mongoc_cursor_t, Deleter<mongoc_cursor_t, mongoc_cursor_destroy>>;

// FerretDB on SQLite answers a write that meets another transaction's lock with "database is
// locked (517)" instead of waiting; on a loaded machine (CI, two cores) that lasted through five
// attempts in 100 ms and failed the crash test's writer. A service would retry longer: up to 20
// attempts, about 3 s in all.
constexpr int kAttempts = 20;
constexpr int kLongestPauseMs = 200;

// The integer `field` of the document whose _id is `id`, or nullopt when there is no such document.
std::optional<std::int64_t> field_of(mongoc_collection_t* collection, const std::string& id, const char* field) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", id.c_str());
  const Cursor cursor(mongoc_collection_find_with_opts(collection, &filter, nullptr, nullptr));
  bson_destroy(&filter);
  const bson_t* doc = nullptr;
  std::optional<std::int64_t> value;
  bson_iter_t it;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    value = bson_iter_init_find(&it, doc, field) ? bson_iter_as_int64(&it) : -1;
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) {
    throw StoreError("looking up " + id + ": " + error.message, true);
  }
  return value;
}

// Runs `write` until the document `id` of `collection` is there (then returns its `field`), at most
// kAttempts times; counts and logs each failed attempt.
template <class Write>
std::int64_t write_until_there(mongoc_collection_t* collection, const std::string& id, const char* field, Write write,
                               Tally& t) {
  for (int attempt = 1;; ++attempt) {
    try {
      if (attempt > 1) {
        if (const auto value = field_of(collection, id, field)) return *value;
      }
      return write();
    } catch (const StoreError& e) {
      if (attempt == kAttempts) throw;
      ++t.recovered_errors;
      std::fprintf(stderr, "writing %s failed (attempt %d), looking it up: %s\n", id.c_str(), attempt, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10 * attempt, kLongestPauseMs)));
    }
  }
}

}  // namespace

Tally run_mongo_writer(const WriterArgs& a) {
  const Driver driver;
  bson_error_t error;
  const Uri uri(mongoc_uri_new_with_error(a.target.c_str(), &error));
  if (!uri) throw std::runtime_error("bad URI " + a.target + ": " + error.message);
  const char* database = mongoc_uri_get_database(uri.get());
  if (database == nullptr) throw std::runtime_error("the URI " + a.target + " names no database");
  const Client client(mongoc_client_new_from_uri(uri.get()));
  if (!client) throw std::runtime_error("cannot create a client for " + a.target);
  mongoc_client_set_error_api(client.get(), MONGOC_ERROR_API_VERSION_2);
  const Collection business(mongoc_client_get_collection(client.get(), database, "crash_business"));
  // The outbox's messages, as docs/mongodb.md lays them out: only read to settle a failed put.
  const Collection outbox_messages(mongoc_client_get_collection(client.get(), database, "outbox_crash"));
  const outbox::mongodb::Outbox box(database, "crash", crash_registry());

  std::mt19937_64 rng(a.seed * 1000003u + static_cast<std::uint64_t>(a.writer));
  std::vector<std::int64_t> key_seqs(static_cast<std::size_t>(a.keys), 0);
  Tally t;
  for (std::int64_t seq = 1; seq <= a.txns && !a.out_of_time(); ++seq) {
    const int messages = 1 + static_cast<int>(rng() % 3);
    const bool roll_back = rng() % 5 == 0;
    for (int idx = 0; idx < messages; ++idx) {
      const std::size_t k = rng() % static_cast<std::uint64_t>(a.keys);
      const std::string key = "w" + std::to_string(a.writer) + "k" + std::to_string(k);
      if (roll_back) {
        Message m = crash_event(key, a.writer, seq, idx, 0);
        m.data["key_seq"] = "none";
        try {
          box.put(client.get(), m);
        } catch (const ValidationError&) {
          continue;
        }
        throw std::runtime_error("put accepted a message that breaks its schema (transaction " + std::to_string(seq) +
                                 ")");
      }
      const std::int64_t key_seq = ++key_seqs[k];
      Message m = crash_event(key, a.writer, seq, idx, key_seq);
      m.id = uuid_v7();  // before the first attempt: a retry must not write it twice
      const std::int64_t position = write_until_there(
          outbox_messages.get(), m.id, "pos", [&] { return box.put(client.get(), m).position; }, t);
      write_until_there(
          business.get(), m.id, "position",
          [&] {
            bson_t row = BSON_INITIALIZER;
            BCON_APPEND(&row, "_id", BCON_UTF8(m.id.c_str()), "writer", BCON_INT64(a.writer), "seq", BCON_INT64(seq),
                        "idx", BCON_INT64(idx), "key", BCON_UTF8(key.c_str()), "key_seq", BCON_INT64(key_seq),
                        "position", BCON_INT64(position));
            const bool inserted = mongoc_collection_insert_one(business.get(), &row, nullptr, nullptr, &error);
            bson_destroy(&row);
            if (!inserted) {
              throw StoreError("inserting the business document of message " + m.id + ": " + error.message, true);
            }
            return position;
          },
          t);
    }
    if (roll_back) {
      ++t.rolled_back_txns;
      t.rolled_back_messages += messages;
    } else {
      ++t.committed_txns;
      t.committed_messages += messages;
    }
    if (a.max_pause_us > 0) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(a.max_pause_us))));
    }
  }
  return t;
}

}  // namespace outbox::crash

// The crash and end-to-end tests' MongoDB backend (crash_harness.hpp), in poll mode or capped mode,
// on the server of the ctest fixture `ferretdb` (tests/integration/mongodb): the outbox and the
// writers' crash_business collection in a database of their own, created for the run and dropped
// afterwards (kept when the test failed). These modes have no transactions: crash_writer_mongo.cpp
// says what committed, rolled back and key order mean here.
#pragma once

#include <mongoc/mongoc.h>
#include <unistd.h>

#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "crash_harness.hpp"
#include "mongo_fixture.hpp"
#include "outbox/mongodb.hpp"

namespace outbox::crash {

namespace mongo_detail {

// Runs `command` (made by BCON_NEW; destroyed here) on `database`; throws with `doing` if the
// server refuses it.
inline void run_command(mongoc_client_t* client, const std::string& database, bson_t* command,
                        const std::string& doing) {
  bson_error_t error;
  const bool ok = mongoc_client_command_simple(client, database.c_str(), command, nullptr, nullptr, &error);
  bson_destroy(command);
  if (!ok) throw std::runtime_error(doing + ": " + error.message);
}

}  // namespace mongo_detail

class MongoBackend : public CrashBackend {
 public:
  explicit MongoBackend(outbox::mongodb::Mode mode)
      : mode_(mode), db_("outbox_crash_" + outbox::mongodb::to_string(mode) + "_" + std::to_string(::getpid())) {}

  ~MongoBackend() override {
    if (!created_) return;
    if (::testing::Test::HasFailure()) {
      std::cout << "database kept for inspection: " << db_ << " (" << writer_target() << ")" << std::endl;
      return;
    }
    try {
      drop_database();
    } catch (const std::exception& e) {
      std::cout << "could not drop " << db_ << ": " << e.what() << std::endl;
    }
  }

  // FerretDB's put does a few hundred messages a second, and fewer while the harness polls the
  // relay's status: far fewer transactions than SQLite's default, so that the writers write for
  // about 12 s, most of the kill loop. Each kill takes about 1.5 s (a relay started after a kill
  // waits out the 1 s lease), so 10 kills keep a run at 15 to 25 s (the old test's was ~17 s).
  CrashProfile profile() const override {
    CrashProfile p;
    p.txns = 100;
    p.keys = 4;
    p.kills = 10;
    p.pause_us = 40000;
    p.keys_per_writer = true;  // no transactions (crash_writer_mongo.cpp)
    // FerretDB 1.24 applies an update by reading and rewriting the whole document, without
    // isolation: an update of the relay just killed that was still in flight can overwrite the new
    // relay's lease, which then stops with LeaseLost (safe: it stops before publishing more).
    p.accepted_relay_stop = "no longer holds consumer";
    return p;
  }

  // No crash_key_counters: keys are per writer, numbered by the writer.
  void prepare(std::int64_t) override {
    drop_database();
    created_ = true;
    outbox::open_store(store_uri())->init("crash");
    testing_mongo::Client client(writer_target());
    mongo_detail::run_command(client, db_,
                              BCON_NEW("createIndexes", BCON_UTF8("crash_business"), "indexes", "[", "{", "key", "{",
                                       "writer", BCON_INT32(1), "seq", BCON_INT32(1), "idx", BCON_INT32(1), "}", "name",
                                       BCON_UTF8("writer_seq_idx"), "unique", BCON_BOOL(true), "}", "]"),
                              "creating crash_business's index");
  }

  std::string store_uri() const override {
    // Capped: large enough that nothing rolls off (roll-off is a loss by design, tested elsewhere).
    const std::string mode = "outboxMode=" + outbox::mongodb::to_string(mode_);
    return testing_mongo::store_uri(
        db_, mode_ == outbox::mongodb::Mode::capped ? mode + "&outboxCappedSize=100000000" : mode);
  }
  std::string writer_target() const override { return testing_mongo::store_uri(db_); }
  // Both modes deliver in position order: poll mode reads by position, and the capped tail holds
  // back what its cursor returns ahead of the next position (docs/mongodb.md, Capped mode).
  VerifyOptions verify_options() const override { return {}; }

  std::vector<Committed> committed() override {
    testing_mongo::Client client(writer_target());
    mongoc_collection_t* business = mongoc_client_get_collection(client, db_.c_str(), "crash_business");
    bson_t filter = BSON_INITIALIZER;
    mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(business, &filter, nullptr, nullptr);
    std::vector<Committed> out;
    const bson_t* doc = nullptr;
    bson_iter_t it;
    auto text = [&](const char* field) {
      return bson_iter_init_find(&it, doc, field) ? std::string(bson_iter_utf8(&it, nullptr)) : std::string();
    };
    auto number = [&](const char* field) {
      return bson_iter_init_find(&it, doc, field) ? bson_iter_as_int64(&it) : std::int64_t{-1};
    };
    while (mongoc_cursor_next(cursor, &doc)) {
      Committed c;
      c.writer = number("writer");
      c.seq = number("seq");
      c.idx = number("idx");
      c.key = text("key");
      c.key_seq = number("key_seq");
      c.id = text("_id");
      c.position = number("position");
      out.push_back(std::move(c));
    }
    bson_error_t error;
    const bool failed = mongoc_cursor_error(cursor, &error);
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(business);
    if (failed) throw std::runtime_error(std::string("reading crash_business: ") + error.message);
    return out;
  }

 private:
  void drop_database() {
    testing_mongo::Client client(writer_target());
    mongo_detail::run_command(client, db_, BCON_NEW("dropDatabase", BCON_INT32(1)), "dropping " + db_);
  }

  outbox::mongodb::Mode mode_;
  std::string db_;
  bool created_ = false;
};

}  // namespace outbox::crash

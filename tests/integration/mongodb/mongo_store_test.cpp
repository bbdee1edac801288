// The MongoDB store's poll and capped modes against a real server (FerretDB on SQLite): puts
// without a transaction, positions, holes, concurrent writers, capped roll-off, modes and
// capability detection. The contract every store shares (tail order, leases, seek, dead letters,
// retention, status) is checked by the store conformance suite, tests/integration/conformance.
#include <atomic>
#include <set>
#include <thread>

#include "mongo_fixture.hpp"
#include "outbox/typed.hpp"

using namespace testing_mongo;
using namespace std::chrono_literals;
namespace mdb = outbox::mongodb;

namespace {

// Inserts a document with the store's layout at `pos`, bypassing the writer's protocol.
bool insert_at(mongoc_client_t* c, const std::string& db, const std::string& outbox, std::int64_t pos,
               std::int64_t ordernr) {
  mongoc_collection_t* col = mongoc_client_get_collection(c, db.c_str(), ("outbox_" + outbox).c_str());
  const std::string id = "late-" + std::to_string(pos);
  bson_t* doc = BCON_NEW("_id", BCON_UTF8(id.c_str()), "type", BCON_UTF8("order_created"), "key", BCON_NULL, "data",
                         "{", "ordernr", BCON_INT64(ordernr), "}", "headers", "{", "}", "created", BCON_DATE_TIME(0),
                         "created_us", BCON_INT64(1), "pos", BCON_INT64(pos));
  bson_error_t error;
  const bool ok = mongoc_collection_insert_one(col, doc, nullptr, nullptr, &error);
  bson_destroy(doc);
  mongoc_collection_destroy(col);
  return ok;
}

}  // namespace

// Capabilities: FerretDB has neither transactions nor change streams, so the default mode fails
// at init, saying which mode to use instead; nothing is created.
TEST_F(MongoTest, TransactionalModeFailsClearlyWithoutAReplicaSet) {
  mdb::Outbox box(database, name, order_schemas());
  try {
    box.init(*client, mdb::OutboxOptions{});
    FAIL() << "init in transactional mode succeeded on a server without transactions";
  } catch (const outbox::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("replica set"), std::string::npos) << what;
    EXPECT_NE(what.find("outboxMode=poll"), std::string::npos) << what;
    EXPECT_NE(what.find("FerretDB"), std::string::npos) << what;
  }
  auto store = outbox::open_store(store_uri(database));
  EXPECT_THROW(store->init(name), outbox::UsageError);
  EXPECT_TRUE(store->outboxes().empty() || store->outboxes() == std::vector<std::string>{})
      << "a failed init leaves no outbox behind";
  const testing_support::Run r = cli("init --store '" + store_uri(database) + "' --outbox " + name);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("outboxMode=poll"), std::string::npos) << r.output;
}

// Put without a transaction: positions 1, 2, 3...; integers stay integers (2^53 + 1).
TEST_F(MongoTest, PollPutAssignsPositionsAndKeepsIntegers) {
  auto box = make_outbox(poll());
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  for (int i = 1; i <= 3; ++i) {
    auto m = box->put(*client, order_created(i == 3 ? big : i, "k"));
    EXPECT_EQ(m.position, i);
    EXPECT_FALSE(m.id.empty());
  }
  auto store = outbox::open_store(store_uri(database));
  auto tail = store->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2, big}));
  EXPECT_EQ(got[2].data_json, "{\"ordernr\":" + std::to_string(big) + "}");
  EXPECT_EQ(got[0].key, "k");
}

namespace mongo_typed {
struct OrderCreated {
  std::int64_t ordernr = 0;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr)
}  // namespace mongo_typed

// The same Outbox shape as every store: a Writer bound to the client (poll mode) is what
// MessageSet::put takes.
TEST_F(MongoTest, TypedMessagesGoThroughAWriter) {
  using Events = outbox::MessageSet<mongo_typed::OrderCreated>;
  auto box = make_outbox(poll());
  auto writer = box->writer(*client);
  EXPECT_EQ(Events::put(writer, mongo_typed::OrderCreated{7}, "order-7").position, 1);
  auto store = outbox::open_store(store_uri(database));
  auto tail = store->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data_json, "{\"ordernr\":7}");
  EXPECT_EQ(got[0].key, "order-7");
}

// Bad input: a ValidationError naming the field; nothing written, no position taken.
TEST_F(MongoTest, InvalidMessageWritesNothing) {
  auto box = make_outbox(poll());
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "not a number"}};
  EXPECT_THROW(box->put(*client, bad), outbox::ValidationError);
  bad.type = "no_such_type";
  EXPECT_THROW(box->put(*client, bad), outbox::ValidationError);
  EXPECT_EQ(count_documents(*client, database, "outbox_" + name), 0);
  EXPECT_EQ(box->put(*client, order_created(1)).position, 1) << "the failed puts took no position";
}

// Holes, in poll and capped mode alike. Writers take position p only once p-1 is taken, so on
// one server they leave no hole; the tail's wait is the safety net, tested with documents written
// at chosen positions directly. It stands for any document that becomes visible late, or that a
// tailable cursor returns late or never (docs/mongodb.md, Capped mode).
class MongoHoles : public MongoTest, public ::testing::WithParamInterface<std::string> {
 protected:
  std::unique_ptr<mdb::Outbox> make() {
    mdb::OutboxOptions o = poll();
    if (GetParam() == "capped") {
      o.mode = mdb::Mode::capped;
      o.capped_size_bytes = 1 << 20;
    }
    return make_outbox(o);
  }
};

// Position 3 is there, 2 is not: 3 is held back until 2 arrives (in capped mode, 2 lands after 3
// in natural order, so the cursor returns 3 first).
TEST_P(MongoHoles, TailWaitsForAHole) {
  auto box = make();
  box->put(*client, order_created(1));
  ASSERT_TRUE(insert_at(*client, database, name, 3, 3));
  auto store = outbox::open_store(store_uri(database, "outboxGapTimeoutMS=5000"));
  auto tail = store->tail(name, outbox::Cursor::beginning());
  EXPECT_EQ(ordernrs(drain(*tail, 1, 2s)), (std::vector<std::int64_t>{1}));
  const auto start = std::chrono::steady_clock::now();
  std::thread late([&] {
    std::this_thread::sleep_for(400ms);
    Client c(store_uri(database));
    EXPECT_TRUE(insert_at(c, database, name, 2, 2));
  });
  auto rest = drain(*tail, 2, 4s);
  late.join();
  EXPECT_EQ(ordernrs(rest), (std::vector<std::int64_t>{2, 3})) << "position 3 waited for position 2";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
  EXPECT_EQ(store->status(name).dropped, 0) << "a hole with older documents below it is not a roll-off";
}

// A hole nobody fills: after the gap timeout the tail closes the position with a tombstone and goes
// on; a late insert at that position then fails (a writer would take a new position).
TEST_P(MongoHoles, TailClosesAnAbandonedPositionAndALateWriterIsRefused) {
  auto box = make();
  box->put(*client, order_created(1));
  ASSERT_TRUE(insert_at(*client, database, name, 3, 3));
  auto store = outbox::open_store(store_uri(database, "outboxGapTimeoutMS=300"));
  auto tail = store->tail(name, outbox::Cursor::beginning());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ordernrs(drain(*tail, 2, 5s)), (std::vector<std::int64_t>{1, 3}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms) << "it waited for the hole first";
  EXPECT_FALSE(insert_at(*client, database, name, 2, 2)) << "the tombstone holds the position";
  EXPECT_EQ(box->put(*client, order_created(4)).position, 4);
  EXPECT_EQ(ordernrs(drain(*tail, 1, 2s)), (std::vector<std::int64_t>{4}));
  const auto st = store->status(name);
  EXPECT_EQ(st.count, 3) << "tombstones are not messages";
  EXPECT_EQ(st.dropped, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, MongoHoles, ::testing::Values("poll", "capped"));

// Concurrent writers on their own clients while a tail reads: nothing skipped, nothing twice,
// and each writer's messages in its own order.
TEST_F(MongoTest, ConcurrentWritersAreNeverSkipped) {
  auto box = make_outbox(poll());
  constexpr int kWriters = 4, kEach = 150;
  auto store = outbox::open_store(store_uri(database));
  auto tail = store->tail(name, outbox::Cursor::beginning(), outbox::TailOptions{.batch_size = 7});
  std::vector<outbox::Message> got;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load() || got.size() < kWriters * kEach) {
      for (auto& m : tail->next(50ms)) got.push_back(std::move(m));
      if (done.load() && got.size() >= kWriters * kEach) break;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      Client c(store_uri(database));
      for (int i = 0; i < kEach; ++i) box->put(c, order_created(w * 1000 + i, "w" + std::to_string(w)));
    });
  }
  for (auto& t : writers) t.join();
  done.store(true);
  reader.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kWriters * kEach));
  std::set<std::int64_t> seen;
  std::vector<int> next(kWriters, 0);
  std::int64_t last_pos = 0;
  for (const auto& m : got) {
    const auto nr = m.data.at("ordernr").get<std::int64_t>();
    EXPECT_TRUE(seen.insert(nr).second) << "twice: " << nr;
    EXPECT_EQ(nr % 1000, next[nr / 1000]++) << "writer order";
    EXPECT_GT(m.position, last_pos) << "position order";
    last_pos = m.position;
  }
}

// A checkpoint of another store is refused, not misread as a position. (Resuming after a
// checkpoint, seek, leases and retention are checked by the store conformance suite,
// tests/integration/conformance, for the poll and capped modes alike.)
TEST_F(MongoTest, ACheckpointOfAnotherStoreIsRefused) {
  make_outbox(poll());
  auto store = outbox::open_store(store_uri(database));
  EXPECT_THROW(store->tail(name, outbox::Cursor::after("pg:1:2:/3")), outbox::UsageError);
  EXPECT_THROW(store->seek(name, "c", "pg:1:2:/3"), outbox::UsageError);
}

// Capped mode: documents a consumer had not published roll off; the tail counts and reports them.
TEST_F(MongoTest, CappedRollOffIsCountedAndReported) {
  mdb::OutboxOptions o;
  o.mode = mdb::Mode::capped;
  o.capped_size_bytes = 1 << 20;
  o.capped_max_documents = 20;
  auto box = make_outbox(o);
  for (int i = 1; i <= 5; ++i) box->put(*client, order_created(i));
  auto store = outbox::open_store(store_uri(database));
  store->acquire({name, "c", "r"}, 30s);
  store->save_checkpoint({name, "c", "r"}, "mongodb:pos:2", 30s, "ok");
  for (int i = 6; i <= 200; ++i) box->put(*client, order_created(i));
  // The server trims a capped collection when it is over its limits (FerretDB: in the background,
  // in a loop that one failure anywhere cuts short; `compact` trims this one now, docs/mongodb.md).
  trim_capped("outbox_" + name);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (store->status(name).count > 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  auto st = store->status(name);
  ASSERT_LE(st.count, 40) << "the capped collection was not trimmed";
  ASSERT_TRUE(st.oldest_position.has_value());
  EXPECT_NE(st.consumers.at(0).health.find("rolled off"), std::string::npos) << st.consumers.at(0).health;
  auto tail = store->tail(name, outbox::Cursor::after("mongodb:pos:2"));
  auto got = drain(*tail, static_cast<std::size_t>(st.count), 5s);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().position, *st.oldest_position);
  EXPECT_EQ(got.back().data.at("ordernr"), 200);
  EXPECT_EQ(store->status(name).dropped, *st.oldest_position - 3);
}

// One outbox, one mode: init with another mode, or a URI naming another mode, is refused.
TEST_F(MongoTest, ModeIsFixedAtInit) {
  make_outbox(poll());
  mdb::OutboxOptions capped;
  capped.mode = mdb::Mode::capped;
  EXPECT_THROW(make_outbox(capped), outbox::UsageError);
  EXPECT_THROW(outbox::open_store(store_uri(database, "outboxMode=capped"))->status(name), outbox::UsageError);
  EXPECT_NO_THROW(outbox::open_store(store_uri(database, "outboxMode=poll"))->status(name));
  EXPECT_THROW(outbox::open_store(store_uri(database, "outboxMode=fast")), outbox::UsageError);
  EXPECT_THROW(outbox::open_store(store_uri(database, "outboxColour=red")), outbox::UsageError);
  EXPECT_THROW(outbox::open_store(store_uri(database))->status("no_such_outbox"), outbox::UsageError);
}

// The transactional mode's wiring, as far as a server without change streams allows: an outbox
// recorded as transactional (here by hand; init refuses on this server) gets the change-stream
// tail, which fails with a StoreError instead of falling back to polling; checkpoints are resume
// tokens, so a position is refused.
TEST_F(MongoTest, TransactionalOutboxTailsThroughAChangeStream) {
  mongoc_collection_t* col = mongoc_client_get_collection(*client, database.c_str(), "outbox__outboxes");
  bson_t* doc = BCON_NEW("_id", BCON_UTF8(name.c_str()), "mode", BCON_UTF8("transactional"), "last_pos", BCON_INT64(0));
  bson_error_t error;
  ASSERT_TRUE(mongoc_collection_insert_one(col, doc, nullptr, nullptr, &error)) << error.message;
  bson_destroy(doc);
  mongoc_collection_destroy(col);
  auto store = outbox::open_store(store_uri(database));
  EXPECT_THROW(store->tail(name, outbox::Cursor::after("mongodb:pos:5")), outbox::UsageError);
  EXPECT_THROW(store->seek(name, "c", "not a token"), outbox::UsageError);
  EXPECT_THROW(store->seek(name, "c", store->checkpoint_before(5)), outbox::UsageError);
  try {
    auto tail = store->tail(name, outbox::Cursor::beginning());
    tail->next(200ms);
    FAIL() << "a change stream on FerretDB did not fail";
  } catch (const outbox::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("change stream"), std::string::npos) << e.what();
  }
  mdb::Outbox box(database, name, order_schemas());
  EXPECT_THROW(box.put(*client, order_created(1)), outbox::UsageError) << "no put without a session";
  EXPECT_THROW(box.put(static_cast<mongoc_client_session_t*>(nullptr), order_created(1)), outbox::UsageError);
}

// The MongoDB store's transactional mode against a real server with multi-document transactions:
// jongodb, a single-node replica set started by the ctest fixture (scripts/jongodb/start.sh).
// What these tests prove is the seed's own promise: `put` joins the caller's transaction, so the
// message commits and aborts with the business documents. jongodb has no change streams, so the
// relay is only shown to refuse clearly there.
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "cli_run.hpp"
#include "fixture_env.hpp"
#include "order_messages.hpp"
#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/store.hpp"
#include "outbox/typed.hpp"

namespace {

using testing_support::cli;
using testing_support::order_created;
using testing_support::order_schemas;
namespace mdb = outbox::mongodb;

std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_JONGODB_URI", "OUTBOX_JONGODB_STATE", "scripts/jongodb/start.sh");
}

// "mongodb://host:port/DATABASE?replicaSet=rs0" + more options.
std::string store_uri(const std::string& database, const std::string& more = "") {
  const std::string base = server_uri();
  const auto q = base.find('?');
  std::string root = base.substr(0, q);
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root + "/" + database + (q == std::string::npos ? "?" : base.substr(q) + "&") + more;
}

class Client {
 public:
  explicit Client(const std::string& uri) : c_(mongoc_client_new(uri.c_str())) {
    if (c_ == nullptr) throw std::runtime_error("bad URI " + uri);
    mongoc_client_set_error_api(c_, MONGOC_ERROR_API_VERSION_2);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { mongoc_client_destroy(c_); }
  operator mongoc_client_t*() const { return c_; }

 private:
  mongoc_client_t* c_;
};

// A session of the caller, as a service has one: start, write, commit or abort.
class Session {
 public:
  explicit Session(mongoc_client_t* client) : client_(client) {
    bson_error_t error;
    s_ = mongoc_client_start_session(client, nullptr, &error);
    if (s_ == nullptr) throw std::runtime_error(std::string("start session: ") + error.message);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { mongoc_client_session_destroy(s_); }
  operator mongoc_client_session_t*() const { return s_; }

  void begin() {
    bson_error_t error;
    ASSERT_TRUE(mongoc_client_session_start_transaction(s_, nullptr, &error)) << error.message;
  }
  void commit() {
    bson_error_t error;
    ASSERT_TRUE(mongoc_client_session_commit_transaction(s_, nullptr, &error)) << error.message;
  }
  void abort() {
    bson_error_t error;
    ASSERT_TRUE(mongoc_client_session_abort_transaction(s_, &error)) << error.message;
  }
  // The service's own write: an order document, in the session's transaction.
  void insert_order(const std::string& database, std::int64_t ordernr) {
    mongoc_collection_t* orders = mongoc_client_get_collection(client_, database.c_str(), "orders");
    bson_t* doc = BCON_NEW("ordernr", BCON_INT64(ordernr));
    bson_t opts = BSON_INITIALIZER;
    bson_error_t error;
    ASSERT_TRUE(mongoc_client_session_append(s_, &opts, &error)) << error.message;
    const bool ok = mongoc_collection_insert_one(orders, doc, &opts, nullptr, &error);
    bson_destroy(&opts);
    bson_destroy(doc);
    mongoc_collection_destroy(orders);
    ASSERT_TRUE(ok) << error.message;
  }

 private:
  mongoc_client_t* client_;
  mongoc_client_session_t* s_ = nullptr;
};

// Documents of `collection` whose `field` (a dotted path: `data.ordernr` in a message) holds
// `ordernr`, as another connection sees them: only what committed. Matched here rather than by the
// server, which keeps the check independent of how it compares int32 with int64 in nested fields.
std::int64_t count(mongoc_client_t* client, const std::string& database, const std::string& collection,
                   const char* field, std::int64_t ordernr) {
  mongoc_collection_t* col = mongoc_client_get_collection(client, database.c_str(), collection.c_str());
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(col, &filter, nullptr, nullptr);
  std::int64_t n = 0;
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor, &doc)) {
    bson_iter_t it, found;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, field, &found) &&
        bson_iter_as_int64(&found) == ordernr) {
      ++n;
    }
  }
  bson_error_t error;
  const bool failed = mongoc_cursor_error(cursor, &error);
  mongoc_cursor_destroy(cursor);
  mongoc_collection_destroy(col);
  if (failed) throw std::runtime_error(std::string("find: ") + error.message);
  return n;
}

class JongoTransaction : public ::testing::Test {
 protected:
  void SetUp() override {
    database = "outbox_jongo_" + std::to_string(getpid());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name = "t_";
    for (const char ch : std::string(info->name()).substr(0, 40)) {
      name += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '_';
    }
    writer_client = std::make_unique<Client>(store_uri(database));
    reader_client = std::make_unique<Client>(store_uri(database));
    box = std::make_unique<mdb::Outbox>(database, name, order_schemas());
    box->init(*writer_client);  // transactional, the default
  }
  std::int64_t orders(std::int64_t nr) const { return count(*reader_client, database, "orders", "ordernr", nr); }
  std::int64_t messages(std::int64_t nr) const {
    return count(*reader_client, database, "outbox_" + name, "data.ordernr", nr);
  }

  std::string database, name;
  std::unique_ptr<Client> writer_client, reader_client;
  std::unique_ptr<mdb::Outbox> box;
};

TEST_F(JongoTransaction, InitRecognisesAReplicaSetAndIsIdempotent) {
  // SetUp's init passed: the server's hello names a replica set with transactions.
  EXPECT_NO_THROW(box->init(*writer_client));
  const auto run = cli("init --store '" + store_uri(database) + "' --outbox " + name);
  EXPECT_EQ(run.code, 0) << run.output;
  auto store = outbox::open_store(store_uri(database));
  EXPECT_EQ(store->status(name).count, 0);
  // A mode the server cannot serve is refused with the reason.
  const auto capped = cli("init --store '" + store_uri(database, "outboxMode=capped") + "' --outbox " + name + "_c");
  EXPECT_EQ(capped.code, 2) << capped.output;
  EXPECT_NE(capped.output.find("no `create` command"), std::string::npos) << capped.output;
  // The stored mode wins: the same outbox cannot be poll too.
  const auto poll = cli("init --store '" + store_uri(database, "outboxMode=poll") + "' --outbox " + name);
  EXPECT_EQ(poll.code, 2) << poll.output;
  EXPECT_NE(poll.output.find("exists in transactional mode"), std::string::npos) << poll.output;
}

TEST_F(JongoTransaction, CommitPublishesTheMessageWithTheBusinessDocument) {
  Session s(*writer_client);
  s.begin();
  s.insert_order(database, 1);
  const outbox::Message written = box->put(s, order_created(1, "order-1"));
  EXPECT_FALSE(written.id.empty());
  // Uncommitted: another connection sees neither the order nor its message.
  EXPECT_EQ(orders(1), 0);
  EXPECT_EQ(messages(1), 0);
  s.commit();
  EXPECT_EQ(orders(1), 1);
  EXPECT_EQ(messages(1), 1);
  EXPECT_EQ(outbox::open_store(store_uri(database))->status(name).count, 1);
}

TEST_F(JongoTransaction, AbortDiscardsTheMessageWithTheBusinessDocument) {
  Session s(*writer_client);
  s.begin();
  s.insert_order(database, 2);
  box->put(s, order_created(2));
  s.abort();
  EXPECT_EQ(orders(2), 0);
  EXPECT_EQ(messages(2), 0);
  EXPECT_EQ(outbox::open_store(store_uri(database))->status(name).count, 0);
}

// A message that fails validation is refused before anything is sent: the caller's transaction
// is still open and usable, and commits its other writes without the bad message.
TEST_F(JongoTransaction, AValidationErrorLeavesTheTransactionUsable) {
  Session s(*writer_client);
  s.begin();
  s.insert_order(database, 3);
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "three"}};
  EXPECT_THROW(box->put(s, bad), outbox::ValidationError);
  outbox::Message unknown;
  unknown.type = "no_such_type";
  unknown.data = nlohmann::json::object();
  EXPECT_THROW(box->put(s, unknown), outbox::ValidationError);
  EXPECT_TRUE(mongoc_client_session_in_transaction(s));
  box->put(s, order_created(3));
  s.commit();
  EXPECT_EQ(orders(3), 1);
  EXPECT_EQ(messages(3), 1);
  EXPECT_EQ(outbox::open_store(store_uri(database))->status(name).count, 1) << "the bad messages were written";
}

TEST_F(JongoTransaction, APutOutsideATransactionIsRefused) {
  Session s(*writer_client);  // no transaction started
  EXPECT_THROW(box->put(s, order_created(4)), outbox::UsageError);
  EXPECT_THROW(box->put(*writer_client, order_created(4)), outbox::UsageError) << "no put without a session";
  EXPECT_EQ(messages(4), 0);
}

struct OrderCreated {
  std::int64_t ordernr = 0;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr)

TEST_F(JongoTransaction, TypedMessagesGoThroughASessionWriter) {
  using Events = outbox::MessageSet<OrderCreated>;
  Session s(*writer_client);
  s.begin();
  s.insert_order(database, 5);
  auto writer = box->writer(s);
  Events::put(writer, OrderCreated{5}, "order-5");
  EXPECT_EQ(messages(5), 0);
  s.commit();
  EXPECT_EQ(orders(5), 1);
  EXPECT_EQ(messages(5), 1);
}

// `outbox put` on a transactional outbox runs in a transaction of its own.
TEST_F(JongoTransaction, CliPutCommitsInATransactionOfItsOwn) {
  const std::string schema = "/tmp/outbox-jongo-schema-" + std::to_string(getpid()) + ".json";
  { std::ofstream(schema) << testing_support::order_schemas_json(); }
  const auto run = cli("put --store '" + store_uri(database) + "' --outbox " + name + " --schema " + schema +
                       " --type order_created --data '{\"ordernr\":6}'");
  EXPECT_EQ(run.code, 0) << run.output;
  EXPECT_EQ(messages(6), 1);
  const auto bad = cli("put --store '" + store_uri(database) + "' --outbox " + name + " --schema " + schema +
                       " --type order_created --data '{\"ordernr\":\"six\"}'");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_EQ(outbox::open_store(store_uri(database))->status(name).count, 1);
  std::remove(schema.c_str());
}

// The transactional mode's relay reads a change stream, which jongodb does not implement: the
// real process must say so and what to do, not retry forever or fall back to polling.
TEST_F(JongoTransaction, TheRelayRefusesClearlyWithoutChangeStreams) {
  const std::string out = "/tmp/outbox-jongo-relay-" + std::to_string(getpid()) + ".jsonl";
  const auto relay = cli("relay --store '" + store_uri(database) + "' --outbox " + name + " --sink file:" + out +
                         " --drain --no-wait");
  EXPECT_EQ(relay.code, 1) << relay.output;
  EXPECT_NE(relay.output.find("this server has no change streams"), std::string::npos) << relay.output;
  EXPECT_NE(relay.output.find("outboxMode=poll"), std::string::npos) << relay.output;
  const auto tail = cli("tail --store '" + store_uri(database) + "' --outbox " + name);
  EXPECT_EQ(tail.code, 1) << tail.output;
  EXPECT_NE(tail.output.find("this server has no change streams"), std::string::npos) << tail.output;
  std::remove(out.c_str());
}

}  // namespace

// The transactional mode's change-stream tail, through a fake driver: exactly what it sends, and
// how it handles each reply (insert events, other events, empty batches, token loss, resumable
// errors). No server here has change streams, so this is the only verification of these paths.
#include <gtest/gtest.h>

#include "mongodb_fake_driver.hpp"
#include "outbox/errors.hpp"
#include "store/mongodb/change_stream_tail.hpp"

namespace {

using namespace std::chrono_literals;
using fakes::FakeDriver;
using fakes::OwnedFake;
using fakes::StreamReply;
using outbox::Message;
using outbox::StoreError;
using outbox::UsageError;
using outbox::mongodb::canonical_extended_json;
using outbox::mongodb::ChangeStreamStart;
using outbox::mongodb::ChangeStreamTail;
using outbox::mongodb::ChangeStreamTailOptions;
using outbox::mongodb::DriverError;
using outbox::mongodb::message_document;
using outbox::mongodb::PositionSequence;

const std::string kPipeline =
    R"({ "pipeline" : [ { "$match" : { "operationType" : { "$in" : [ "insert", "drop", "rename", )"
    R"("dropDatabase", "invalidate" ] } } } ] })";

// A resume token in the canonical form the tail uses as a checkpoint.
std::string token(const std::string& data) { return R"({ "_data" : ")" + data + R"(" })"; }

constexpr std::int64_t kSpan = std::int64_t{1} << 31;

std::string full_document(const std::string& id, int n) {
  Message m;
  m.id = id;
  m.type = "order.placed";
  m.key = "k" + std::to_string(n);
  m.data = {{"n", n}};
  m.created = outbox::Timestamp(std::chrono::microseconds(1'764'424'000'000'000 + n));
  return canonical_extended_json(*message_document(m));
}

std::string insert_event(const std::string& data, std::uint32_t t, std::uint32_t i, const std::string& id, int n) {
  return R"({"_id":)" + token(data) + R"(,"operationType":"insert","clusterTime":{"$timestamp":{"t":)" +
         std::to_string(t) + R"(,"i":)" + std::to_string(i) + R"(}},"ns":{"db":"app","coll":"outbox_orders"},)" +
         R"("documentKey":{"_id":")" + id + R"("},"fullDocument":)" + full_document(id, n) + "}";
}

std::string other_event(const std::string& data, const std::string& operation) {
  return R"({"_id":)" + token(data) + R"(,"operationType":")" + operation +
         R"(","clusterTime":{"$timestamp":{"t":100,"i":9}},"ns":{"db":"app","coll":"outbox_orders"}})";
}

DriverError server_error(std::int32_t code, std::string message, std::vector<std::string> labels = {}) {
  return {DriverError::Kind::server, code, std::move(message), std::move(labels)};
}

struct TailFixture {
  OwnedFake driver;
  FakeDriver& fake = *driver.fake;
  std::shared_ptr<PositionSequence> positions = std::make_shared<PositionSequence>();

  std::unique_ptr<ChangeStreamTail> open(ChangeStreamStart start = ChangeStreamStart::now(),
                                         std::size_t batch_size = 100, bool parse_data = true) {
    ChangeStreamTailOptions o;
    o.database = "app";
    o.collection = "outbox_orders";
    o.outbox = "orders";
    o.tail.batch_size = batch_size;
    o.tail.parse_data = parse_data;
    o.max_await = 250ms;
    return std::make_unique<ChangeStreamTail>(std::move(driver.owned), o, std::move(start), positions);
  }
};

std::string store_error(ChangeStreamTail& tail, bool expect_retryable) {
  try {
    tail.next(0ms);
  } catch (const StoreError& e) {
    EXPECT_EQ(e.retryable(), expect_retryable) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected StoreError";
  return {};
}

TEST(MongoChangeStream, OpensLazilyWithTheExactPipelineAndOptions) {
  TailFixture f;
  auto tail = f.open(ChangeStreamStart::now(), 100);
  EXPECT_TRUE(f.fake.watches.empty());  // nothing sent before the first next()
  EXPECT_TRUE(tail->next(0ms).empty());
  ASSERT_EQ(f.fake.watches.size(), 1u);
  EXPECT_EQ(f.fake.watches[0].database, "app");
  EXPECT_EQ(f.fake.watches[0].collection, "outbox_orders");
  EXPECT_EQ(f.fake.watches[0].pipeline, kPipeline);
  EXPECT_EQ(f.fake.watches[0].options,
            R"({ "batchSize" : { "$numberInt" : "100" }, "maxAwaitTimeMS" : { "$numberLong" : "250" } })");
}

TEST(MongoChangeStream, ResumesAfterTheCheckpointToken) {
  TailFixture f;
  auto tail = f.open(ChangeStreamStart::resume_after(R"({"_data":"826A01"})"));
  tail->next(0ms);
  ASSERT_EQ(f.fake.watches.size(), 1u);
  EXPECT_EQ(f.fake.watches[0].options, R"({ "resumeAfter" : { "_data" : "826A01" }, )"
                                       R"("batchSize" : { "$numberInt" : "100" }, )"
                                       R"("maxAwaitTimeMS" : { "$numberLong" : "250" } })");
}

TEST(MongoChangeStream, StartsAtAnOperationTime) {
  TailFixture f;
  auto tail = f.open(ChangeStreamStart::at_operation_time(1764424000, 7));
  tail->next(0ms);
  EXPECT_EQ(f.fake.watches.at(0).options, R"({ "startAtOperationTime" : { "$timestamp" : { "t" : 1764424000, )"
                                          R"("i" : 7 } }, "batchSize" : { "$numberInt" : "100" }, )"
                                          R"("maxAwaitTimeMS" : { "$numberLong" : "250" } })");
}

TEST(MongoChangeStream, RefusesACheckpointThatIsNotAToken) {
  EXPECT_THROW(ChangeStreamStart::resume_after("42"), UsageError);
  EXPECT_THROW(ChangeStreamStart::resume_after("{}"), UsageError);
  EXPECT_THROW(ChangeStreamStart::resume_after("{\"_data\":"), UsageError);
}

TEST(MongoChangeStream, InsertEventsBecomeMessagesInCommitOrder) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1)),
                            // two events of one transaction share its clusterTime
                            StreamReply::event(insert_event("T2", 100, 6, "m2", 2)),
                            StreamReply::event(insert_event("T3", 100, 6, "m3", 3)), StreamReply::dry(token("P3"))});
  auto tail = f.open();
  const auto batch = tail->next(0ms);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].id, "m1");
  EXPECT_EQ(batch[1].id, "m2");
  EXPECT_EQ(batch[2].id, "m3");
  EXPECT_EQ(batch[0].outbox, "orders");
  EXPECT_EQ(batch[0].type, "order.placed");
  EXPECT_EQ(batch[0].key, "k1");
  EXPECT_EQ(batch[0].data, nlohmann::json({{"n", 1}}));
  EXPECT_EQ(batch[0].data_json, R"({"n":1})");
  EXPECT_EQ(batch[0].created, outbox::Timestamp(std::chrono::microseconds(1'764'424'000'000'001)));
  // Each checkpoint is that event's resume token.
  EXPECT_EQ(batch[0].checkpoint, token("T1"));
  EXPECT_EQ(batch[1].checkpoint, token("T2"));
  EXPECT_EQ(batch[2].checkpoint, token("T3"));
  // Positions follow clusterTime and stay strictly increasing inside a transaction.
  EXPECT_EQ(batch[0].position, 100 * kSpan + 5);
  EXPECT_EQ(batch[1].position, 100 * kSpan + 6);
  EXPECT_EQ(batch[2].position, 100 * kSpan + 7);
}

TEST(MongoChangeStream, UnparsedDataForTheRelay) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1))});
  auto tail = f.open(ChangeStreamStart::now(), 100, /*parse_data=*/false);
  const auto batch = tail->next(0ms);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_TRUE(batch[0].data.is_null());
  EXPECT_EQ(batch[0].data_json, R"({"n":1})");
}

TEST(MongoChangeStream, OtherEventsAreSkippedButMoveTheResumePoint) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1)),
                            StreamReply::event(other_event("U1", "update")),
                            StreamReply::event(other_event("D1", "delete")),
                            StreamReply::fail({DriverError::Kind::network, 9001, "socket reset", {}})});
  f.fake.streams.push_back({StreamReply::event(insert_event("T2", 101, 1, "m2", 2))});
  auto tail = f.open();
  const auto batch = tail->next(0ms);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].id, "m1");
  EXPECT_EQ(batch[1].id, "m2");
  // The reopen resumed after the last event seen, the skipped delete.
  ASSERT_EQ(f.fake.watches.size(), 2u);
  EXPECT_NE(f.fake.watches[1].options.find(R"("resumeAfter" : { "_data" : "D1" })"), std::string::npos);
}

TEST(MongoChangeStream, AnEmptyBatchYieldsThePostBatchTokenAsIdleCheckpoint) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::dry(token("P0")), StreamReply::event(insert_event("T1", 100, 5, "m1", 1)),
                            StreamReply::dry(token("P1")), StreamReply::dry(token("P2"))});
  auto tail = f.open();
  EXPECT_EQ(tail->idle_checkpoint(), std::nullopt);  // nothing read yet
  EXPECT_TRUE(tail->next(0ms).empty());
  EXPECT_EQ(tail->idle_checkpoint(), token("P0"));
  // A message and then the end of its batch: the post-batch token covers the message returned.
  const auto batch = tail->next(0ms);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(tail->idle_checkpoint(), token("P1"));
  EXPECT_TRUE(tail->next(0ms).empty());
  EXPECT_EQ(tail->idle_checkpoint(), token("P2"));
}

TEST(MongoChangeStream, NoIdleCheckpointWhileABatchIsCutShort) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::dry(token("P0")), StreamReply::event(insert_event("T1", 100, 5, "m1", 1)),
                            StreamReply::event(insert_event("T2", 100, 6, "m2", 2)),
                            StreamReply::event(insert_event("T3", 100, 7, "m3", 3)), StreamReply::dry(token("P3"))});
  auto tail = f.open(ChangeStreamStart::now(), 2);
  EXPECT_TRUE(tail->next(0ms).empty());
  EXPECT_EQ(tail->idle_checkpoint(), token("P0"));
  // batch_size 2 stops before m3: neither P0 (behind m1, m2) nor anything past m3 is valid now.
  ASSERT_EQ(tail->next(0ms).size(), 2u);
  EXPECT_EQ(tail->idle_checkpoint(), std::nullopt);
  const auto rest = tail->next(0ms);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, "m3");
  EXPECT_EQ(tail->idle_checkpoint(), token("P3"));
}

TEST(MongoChangeStream, WaitsForAnEventAcrossEmptyBatchesUntilTheDeadline) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::dry(token("P0")), StreamReply::dry(token("P1")),
                            StreamReply::event(insert_event("T1", 100, 5, "m1", 1))});
  auto tail = f.open();
  const auto batch = tail->next(10s);  // returns as soon as the event is there
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(f.fake.next_calls, 4);  // dry, dry, event, then the (scripted-dry) end of its batch
}

TEST(MongoChangeStream, TokenLossStopsWithAClearErrorAndNeverRestartsFromNow) {
  for (const auto& error :
       {server_error(286,
                     "Resume of change stream was not possible, as the resume point may no longer be in the oplog."),
        server_error(280, "cannot resume stream; the resume token was not found."),
        server_error(136,
                     "resume of change stream was not possible, as the resume point may no longer be in the oplog")}) {
    TailFixture f;
    f.fake.streams.push_back({StreamReply::fail(error)});
    f.fake.streams.push_back({StreamReply::event(insert_event("T9", 900, 1, "m9", 9))});
    auto tail = f.open(ChangeStreamStart::resume_after(token("OLD")));
    const std::string what = store_error(*tail, /*retryable=*/false);
    EXPECT_NE(what.find("no longer in the server's oplog"), std::string::npos) << what;
    EXPECT_NE(what.find(token("OLD")), std::string::npos) << what;
    EXPECT_NE(what.find("outbox seek"), std::string::npos) << what;
    EXPECT_NE(what.find("code " + std::to_string(error.code)), std::string::npos) << what;
    EXPECT_EQ(f.fake.watches.size(), 1u);  // no second watch, from "now" or anywhere
  }
}

TEST(MongoChangeStream, ResumableErrorsReopenFromTheLastToken) {
  for (const auto& error :
       {server_error(91, "shutting down", {"ResumableChangeStreamError"}), server_error(189, "primary stepped down"),
        DriverError{DriverError::Kind::network, 2, "connection refused", {}}}) {
    TailFixture f;
    f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1)), StreamReply::dry(token("P1")),
                              StreamReply::fail(error)});
    f.fake.streams.push_back({StreamReply::event(insert_event("T2", 100, 6, "m2", 2))});
    auto tail = f.open(ChangeStreamStart::resume_after(token("S")));
    ASSERT_EQ(tail->next(0ms).size(), 1u);
    const auto after = tail->next(0ms);
    ASSERT_EQ(after.size(), 1u) << error.message;
    EXPECT_EQ(after[0].id, "m2");
    ASSERT_EQ(f.fake.watches.size(), 2u);
    EXPECT_EQ(f.fake.watches[1].pipeline, kPipeline);
    // From the post-batch token P1, the last point seen - not the start token S, not "now".
    EXPECT_EQ(f.fake.watches[1].options, R"({ "resumeAfter" : { "_data" : "P1" }, )"
                                         R"("batchSize" : { "$numberInt" : "100" }, )"
                                         R"("maxAwaitTimeMS" : { "$numberLong" : "250" } })");
  }
}

TEST(MongoChangeStream, AStreamStartedNowReopensFromItsFirstTokenNotFromNowAgain) {
  TailFixture f;
  f.fake.initial_tokens = {token("A0")};  // the aggregate's post-batch token, before any getMore
  f.fake.streams.push_back({StreamReply::fail({DriverError::Kind::network, 2, "connection reset", {}})});
  f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1))});
  auto tail = f.open(ChangeStreamStart::now());
  ASSERT_EQ(tail->next(0ms).size(), 1u);
  ASSERT_EQ(f.fake.watches.size(), 2u);
  EXPECT_EQ(f.fake.watches[0].options.find("resumeAfter"), std::string::npos);
  EXPECT_NE(f.fake.watches[1].options.find(R"("resumeAfter" : { "_data" : "A0" })"), std::string::npos);
}

TEST(MongoChangeStream, AStreamThatKeepsBreakingIsARetryableErrorForTheRelay) {
  TailFixture f;
  const DriverError down{DriverError::Kind::network, 2, "No suitable servers found", {}};
  f.fake.streams.push_back({StreamReply::fail(down)});
  f.fake.streams.push_back({StreamReply::fail(down)});
  auto tail = f.open(ChangeStreamStart::resume_after(token("S")));
  const std::string what = store_error(*tail, /*retryable=*/true);
  EXPECT_NE(what.find("No suitable servers found"), std::string::npos) << what;
  EXPECT_EQ(f.fake.watches.size(), 2u);  // one reopen of its own, then the relay's backoff
  EXPECT_NE(f.fake.watches[1].options.find(token("S")), std::string::npos);
}

TEST(MongoChangeStream, OtherServerErrorsAreNotRetried) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::fail(server_error(13, "not authorized on app to execute command"))});
  auto tail = f.open();
  const std::string what = store_error(*tail, /*retryable=*/false);
  EXPECT_NE(what.find("code 13"), std::string::npos);
  EXPECT_NE(what.find("not authorized"), std::string::npos);
  EXPECT_EQ(f.fake.watches.size(), 1u);
}

TEST(MongoChangeStream, ADroppedCollectionEndsTheTailWithWhatToDo) {
  for (const char* operation : {"drop", "rename", "invalidate", "dropDatabase"}) {
    TailFixture f;
    f.fake.streams.push_back({StreamReply::event(other_event("X1", operation))});
    auto tail = f.open();
    const std::string what = store_error(*tail, /*retryable=*/false);
    EXPECT_NE(what.find("outbox init"), std::string::npos) << what;
    EXPECT_NE(what.find("outbox seek"), std::string::npos) << what;
  }
}

TEST(MongoChangeStream, MalformedEventsAreErrors) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::event(R"({"operationType":"insert","fullDocument":{}})")});
  auto tail = f.open();
  EXPECT_NE(store_error(*tail, false).find("no resume token"), std::string::npos);

  TailFixture g;
  g.fake.streams.push_back({StreamReply::event(R"({"_id":{"_data":"A"},"operationType":"insert"})")});
  auto tail2 = g.open();
  EXPECT_NE(store_error(*tail2, false).find("no fullDocument"), std::string::npos);

  TailFixture h;  // a document not written by put
  h.fake.streams.push_back(
      {StreamReply::event(R"({"_id":{"_data":"A"},"operationType":"insert","fullDocument":{"_id":"x","v":1}})")});
  auto tail3 = h.open();
  EXPECT_NE(store_error(*tail3, false).find("'type' is missing"), std::string::npos);
}

TEST(MongoChangeStream, CloseStopsReadingWithoutAServerCall) {
  TailFixture f;
  f.fake.streams.push_back({StreamReply::event(insert_event("T1", 100, 5, "m1", 1))});
  auto tail = f.open();
  tail->close();
  EXPECT_TRUE(tail->closed());
  EXPECT_TRUE(tail->next(1s).empty());
  EXPECT_EQ(f.fake.next_calls, 0);
}

TEST(MongoChangeStream, PositionsContinueAboveAReopenedTailMidTransaction) {
  auto positions = std::make_shared<PositionSequence>();
  std::int64_t last = 0;
  for (const char* id : {"m1", "m2"}) {
    TailFixture f;
    f.positions = positions;
    // The same transaction (clusterTime 100/6) seen by a tail, then by its replacement.
    f.fake.streams.push_back({StreamReply::event(insert_event(std::string("T") + id, 100, 6, id, 1))});
    auto tail = f.open();
    const auto batch = tail->next(0ms);
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_GT(batch[0].position, last);
    last = batch[0].position;
  }
  EXPECT_EQ(last, 100 * kSpan + 7);
  // Far in the future (seconds near 2^32) the position still fits an int64.
  PositionSequence late;
  EXPECT_EQ(late.next(4294967295u, 4294967295u), 4294967295LL * kSpan + (kSpan - 1));
}

}  // namespace

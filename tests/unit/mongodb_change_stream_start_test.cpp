// The MongoDB store's wiring of its transactional mode, without a server (none here has change
// streams): where a tail's change stream starts for each Cursor, and how "now" becomes a
// checkpoint (seek --to end) through a fake driver - what is sent, that no event is consumed, and
// each reply.
#include <gtest/gtest.h>

#include "mongodb_fake_driver.hpp"
#include "outbox/errors.hpp"
#include "store/mongodb/change_stream_start.hpp"

namespace {

using fakes::FakeDriver;
using fakes::StreamReply;
using outbox::Cursor;
using outbox::StoreError;
using outbox::UsageError;
using outbox::mongodb::change_stream_start;
using outbox::mongodb::ChangeStreamStart;
using outbox::mongodb::DriverError;
using outbox::mongodb::resume_token_now;
using outbox::mongodb::detail::encode_position;
using outbox::mongodb::detail::Settings;

using Kind = ChangeStreamStart::Kind;

Settings recorded_at_init() {
  Settings s;
  s.start_time_s = 1764424000;
  s.start_time_i = 7;
  return s;
}

Settings nothing_recorded() { return Settings{}; }

// ---- change_stream_start -----------------------------------------------------------------------

TEST(MongoChangeStreamStart, BeginningIsTheClusterTimeRecordedAtInit) {
  const auto start = change_stream_start(Cursor::beginning(), recorded_at_init(), "orders");
  EXPECT_EQ(start.kind, Kind::at_operation_time);
  EXPECT_EQ(start.seconds, 1764424000u);
  EXPECT_EQ(start.increment, 7u);
  EXPECT_TRUE(start.token.empty());
}

TEST(MongoChangeStreamStart, BeginningIsNowWhenInitRecordedNoClusterTime) {
  EXPECT_EQ(change_stream_start(Cursor::beginning(), nothing_recorded(), "orders").kind, Kind::now);
}

TEST(MongoChangeStreamStart, EndIsNowEvenWithARecordedClusterTime) {
  EXPECT_EQ(change_stream_start(Cursor::end(), recorded_at_init(), "orders").kind, Kind::now);
  EXPECT_EQ(change_stream_start(Cursor::end(), nothing_recorded(), "orders").kind, Kind::now);
}

TEST(MongoChangeStreamStart, AfterAResumeTokenResumesAfterIt) {
  // Relaxed JSON in, the canonical form out (what the tail sends and compares).
  const auto start = change_stream_start(Cursor::after(R"({"_data":"826A01"})"), recorded_at_init(), "orders");
  EXPECT_EQ(start.kind, Kind::resume_after);
  EXPECT_EQ(start.token, R"({ "_data" : "826A01" })");
  EXPECT_EQ(start.seconds, 0u);  // the recorded time plays no part
}

TEST(MongoChangeStreamStart, AfterPositionZeroIsLikeBeginning) {
  const auto start = change_stream_start(Cursor::after(encode_position(0)), recorded_at_init(), "orders");
  EXPECT_EQ(start.kind, Kind::at_operation_time);
  EXPECT_EQ(start.seconds, 1764424000u);
  EXPECT_EQ(start.increment, 7u);
  EXPECT_EQ(change_stream_start(Cursor::after(encode_position(0)), nothing_recorded(), "orders").kind, Kind::now);
}

TEST(MongoChangeStreamStart, AfterAnyOtherPositionIsAUsageErrorSayingWhatWorks) {
  const std::string checkpoint = encode_position(42);
  try {
    change_stream_start(Cursor::after(checkpoint), recorded_at_init(), "orders");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'orders'"), std::string::npos) << what;
    EXPECT_NE(what.find("transactional mode"), std::string::npos) << what;
    EXPECT_NE(what.find("'" + checkpoint + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("beginning"), std::string::npos) << what;
  }
  EXPECT_THROW(change_stream_start(Cursor::after(encode_position(1)), nothing_recorded(), "orders"), UsageError);
}

TEST(MongoChangeStreamStart, AfterAMalformedCheckpointIsAUsageError) {
  EXPECT_THROW(change_stream_start(Cursor::after("42"), recorded_at_init(), "orders"), UsageError);
  EXPECT_THROW(change_stream_start(Cursor::after("{}"), recorded_at_init(), "orders"), UsageError);
  EXPECT_THROW(change_stream_start(Cursor::after("{\"_data\":"), recorded_at_init(), "orders"), UsageError);
}

// ---- resume_token_now --------------------------------------------------------------------------

const std::string kNowPipeline = R"({ "pipeline" : [ { "$match" : { "operationType" : { "$in" : [  ] } } } ] })";
const std::string kNowOptions =
    R"({ "batchSize" : { "$numberInt" : "0" }, "maxAwaitTimeMS" : { "$numberLong" : "100" } })";

std::string token(const std::string& data) { return R"({ "_data" : ")" + data + R"(" })"; }

std::string insert_event(const std::string& data) {
  return R"({"_id":)" + token(data) +
         R"(,"operationType":"insert","clusterTime":{"$timestamp":{"t":100,"i":1}},)"
         R"("ns":{"db":"app","coll":"outbox_orders"},"documentKey":{"_id":"m1"},"fullDocument":{"_id":"m1"}})";
}

std::string now_token(FakeDriver& fake) { return resume_token_now(fake, "app", "outbox_orders", "orders"); }

StoreError now_error(FakeDriver& fake) {
  try {
    now_token(fake);
  } catch (const StoreError& e) {
    return e;
  }
  ADD_FAILURE() << "expected StoreError";
  return StoreError("none", false);
}

TEST(MongoResumeTokenNow, SendsAPipelineMatchingNoEventAndAnEmptyInitialBatch) {
  FakeDriver fake;
  fake.initial_tokens.push_back(token("8200A1"));
  now_token(fake);
  ASSERT_EQ(fake.watches.size(), 1u);
  EXPECT_EQ(fake.watches[0].database, "app");
  EXPECT_EQ(fake.watches[0].collection, "outbox_orders");
  EXPECT_EQ(fake.watches[0].pipeline, kNowPipeline);
  // batchSize 0: the initial aggregate returns no event; no resumeAfter/startAtOperationTime: "now".
  EXPECT_EQ(fake.watches[0].options, kNowOptions);
}

TEST(MongoResumeTokenNow, TakesThePostBatchTokenOfTheInitialBatchWithoutReadingAnEvent) {
  FakeDriver fake;
  fake.initial_tokens.push_back(token("8200A1"));
  // Events committed after "now" are there to be read; none may be consumed.
  fake.streams.push_back({StreamReply::event(insert_event("8200B1")), StreamReply::dry(token("8200C1"))});
  EXPECT_EQ(now_token(fake), token("8200A1"));
  EXPECT_EQ(fake.next_calls, 0);
}

TEST(MongoResumeTokenNow, WithoutACachedTokenReadsOneEmptyBatchAndTakesItsToken) {
  FakeDriver fake;
  fake.streams.push_back({StreamReply::dry(token("8200A2")), StreamReply::dry(token("8200A3"))});
  EXPECT_EQ(now_token(fake), token("8200A2"));
  EXPECT_EQ(fake.next_calls, 1);  // one getMore at most, never a drain
}

TEST(MongoResumeTokenNow, AnEventBeforeAnyTokenGivesNoTokenPastIt) {
  FakeDriver fake;
  fake.streams.push_back({StreamReply::event(insert_event("8200B1")), StreamReply::dry(token("8200C1"))});
  const StoreError e = now_error(fake);
  EXPECT_TRUE(e.retryable()) << e.what();
  EXPECT_NE(std::string(e.what()).find("Try again"), std::string::npos) << e.what();
  EXPECT_EQ(fake.next_calls, 1);  // did not read on to the token after the event
}

TEST(MongoResumeTokenNow, NoTokenAtAllIsRetryable) {
  FakeDriver fake;
  fake.streams.push_back({StreamReply::dry("")});
  const StoreError e = now_error(fake);
  EXPECT_TRUE(e.retryable()) << e.what();
  EXPECT_NE(std::string(e.what()).find("gave no resume token"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("'orders'"), std::string::npos) << e.what();
  EXPECT_EQ(fake.next_calls, 1);
}

TEST(MongoResumeTokenNow, ANetworkErrorIsRetryable) {
  FakeDriver fake;
  fake.streams.push_back({StreamReply::fail({DriverError::Kind::network, 0, "connection refused", {}})});
  const StoreError e = now_error(fake);
  EXPECT_TRUE(e.retryable()) << e.what();
  EXPECT_NE(std::string(e.what()).find("connection refused"), std::string::npos) << e.what();
}

TEST(MongoResumeTokenNow, AResumableServerErrorIsRetryable) {
  FakeDriver fake;
  fake.streams.push_back(
      {StreamReply::fail({DriverError::Kind::server, 91, "shutdown in progress", {"ResumableChangeStreamError"}})});
  EXPECT_TRUE(now_error(fake).retryable());
}

TEST(MongoResumeTokenNow, AServerRefusalIsNotRetryable) {
  FakeDriver fake;
  // What a standalone server answers: retrying cannot help.
  fake.streams.push_back({StreamReply::fail(
      {DriverError::Kind::server, 40573, "The $changeStream stage is only supported on replica sets", {}})});
  const StoreError e = now_error(fake);
  EXPECT_FALSE(e.retryable()) << e.what();
  EXPECT_NE(std::string(e.what()).find("code 40573"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("'orders'"), std::string::npos) << e.what();
}

TEST(MongoResumeTokenNow, AClientErrorIsNotRetryable) {
  FakeDriver fake;
  fake.streams.push_back({StreamReply::fail({DriverError::Kind::client, 2, "invalid option", {}})});
  EXPECT_FALSE(now_error(fake).retryable());
}

}  // namespace

// The libmongoc side of the seam, where it can be exercised without a server: a client whose server
// cannot be reached. Shows that libmongoc's failures are classified as network errors, and that the
// change-stream tail over the real driver turns them into a retryable StoreError after one reopen.
#include <gtest/gtest.h>

#include <mongoc/mongoc.h>

#include "outbox/errors.hpp"
#include "store/mongodb/change_stream_tail.hpp"
#include "store/mongodb/driver.hpp"

namespace {

using namespace std::chrono_literals;
using outbox::StoreError;
using outbox::mongodb::Bson;
using outbox::mongodb::ChangeStreamStart;
using outbox::mongodb::ChangeStreamTail;
using outbox::mongodb::ChangeStreamTailOptions;
using outbox::mongodb::DriverError;
using outbox::mongodb::libmongoc_driver;

// Port 1 on loopback: nothing listens there, so every connection is refused at once.
mongoc_client_t* unreachable_client() {
  mongoc_init();
  return mongoc_client_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200");
}

TEST(MongoLibmongocDriver, AStreamOnAnUnreachableServerFailsAsANetworkError) {
  mongoc_client_t* client = unreachable_client();
  ASSERT_NE(client, nullptr);
  {
    auto driver = libmongoc_driver(client);
    Bson pipeline(BCON_NEW("pipeline", "[", "]"));
    Bson options(BCON_NEW("maxAwaitTimeMS", BCON_INT64(100)));
    auto stream = driver->watch("app", "outbox_orders", *pipeline, *options);
    EXPECT_EQ(stream->next(), nullptr);
    const auto error = stream->error();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->kind, DriverError::Kind::network) << error->message;
    EXPECT_FALSE(error->message.empty());
    EXPECT_FALSE(stream->resume_token().has_value());
  }
  mongoc_client_destroy(client);
}

TEST(MongoLibmongocDriver, TheTailGivesUpWithARetryableErrorAndReturnsItsClient) {
  mongoc_client_t* client = unreachable_client();
  ASSERT_NE(client, nullptr);
  mongoc_client_t* released = nullptr;
  {
    ChangeStreamTailOptions o;
    o.database = "app";
    o.collection = "outbox_orders";
    o.outbox = "orders";
    ChangeStreamTail tail(libmongoc_driver(client, [&](mongoc_client_t* c) { released = c; }), o,
                          ChangeStreamStart::resume_after(R"({"_data":"826A01"})"));
    try {
      tail.next(0ms);
      FAIL() << "expected StoreError";
    } catch (const StoreError& e) {
      EXPECT_TRUE(e.retryable()) << e.what();
      EXPECT_NE(std::string(e.what()).find("outbox 'orders'"), std::string::npos) << e.what();
    }
    EXPECT_EQ(released, nullptr);
  }
  EXPECT_EQ(released, client);  // handed back (e.g. to its pool) when the tail is destroyed
  mongoc_client_destroy(client);
}

}  // namespace

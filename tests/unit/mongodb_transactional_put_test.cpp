// The transactional mode's insert, through a fake driver: what it sends, and how each server
// reply becomes an error the caller can act on. No server here has transactions.
#include <gtest/gtest.h>

#include "mongodb_fake_driver.hpp"
#include "outbox/errors.hpp"
#include "store/mongodb/transactional_put.hpp"

namespace {

using fakes::FakeDriver;
using outbox::Message;
using outbox::StoreError;
using outbox::UsageError;
using outbox::ValidationError;
using outbox::mongodb::DriverError;
using outbox::mongodb::put_in_transaction;

// The fake never dereferences sessions; any distinct address stands for one.
int session_storage;
mongoc_client_session_t* const kSession = reinterpret_cast<mongoc_client_session_t*>(&session_storage);

Message message() {
  Message m;
  m.id = "01890a5d-ac96-774b-bcce-b302099a8057";
  m.outbox = "orders";
  m.type = "order.placed";
  m.key = "order-1";
  m.data = {{"amount", 12}};
  m.headers = {{"traceparent", "00-abc-01"}};
  m.created = outbox::Timestamp(std::chrono::microseconds(1'764'424'000'123'456));
  return m;
}

StoreError put_error(FakeDriver& driver, DriverError e) {
  driver.insert_error = std::move(e);
  try {
    put_in_transaction(driver, kSession, "app", "outbox_orders", message());
  } catch (const StoreError& error) {
    return error;
  }
  ADD_FAILURE() << "expected StoreError";
  return StoreError("", false);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(MongoTransactionalPut, InsertsTheAgreedDocumentInTheCallersSession) {
  FakeDriver driver;
  put_in_transaction(driver, kSession, "app", "outbox_orders", message());
  ASSERT_EQ(driver.inserts.size(), 1u);
  EXPECT_EQ(driver.inserts[0].session, kSession);
  EXPECT_EQ(driver.inserts[0].database, "app");
  EXPECT_EQ(driver.inserts[0].collection, "outbox_orders");
  EXPECT_EQ(driver.inserts[0].document,
            R"({ "_id" : "01890a5d-ac96-774b-bcce-b302099a8057", "type" : "order.placed", "key" : "order-1", )"
            R"("data" : { "amount" : { "$numberInt" : "12" } }, "headers" : { "traceparent" : "00-abc-01" }, )"
            R"("created" : { "$date" : { "$numberLong" : "1764424000123" } }, )"
            R"("created_us" : { "$numberLong" : "1764424000123456" } })");
}

TEST(MongoTransactionalPut, RefusesASessionWithoutATransactionBeforeSendingAnything) {
  FakeDriver driver;
  driver.transaction_started = false;
  try {
    put_in_transaction(driver, kSession, "app", "outbox_orders", message());
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "mongoc_client_session_start_transaction")) << e.what();
    EXPECT_TRUE(contains(e.what(), "outbox 'orders'")) << e.what();
  }
  EXPECT_THROW(put_in_transaction(driver, nullptr, "app", "outbox_orders", message()), UsageError);
  EXPECT_TRUE(driver.inserts.empty());
}

TEST(MongoTransactionalPut, DataWithoutABsonFormIsRefusedBeforeSendingAnything) {
  FakeDriver driver;
  Message m = message();
  m.data = {{"big", std::numeric_limits<std::uint64_t>::max()}};
  try {
    put_in_transaction(driver, kSession, "app", "outbox_orders", m);
    FAIL() << "expected ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/data/big");
  }
  EXPECT_TRUE(driver.inserts.empty());
}

TEST(MongoTransactionalPut, TransientTransactionErrorsAskToRetryTheWholeTransaction) {
  for (const DriverError& e :
       {DriverError{DriverError::Kind::server,
                    112,
                    "WriteConflict error: this operation conflicted with another",
                    {"TransientTransactionError"}},
        DriverError{DriverError::Kind::server, 251, "Transaction 3 has been aborted.", {"TransientTransactionError"}},
        DriverError{DriverError::Kind::server, 112, "WriteConflict", {}},  // unlabelled, still transient
        DriverError{DriverError::Kind::network, 1, "socket error or timeout", {}}}) {
    FakeDriver driver;
    const StoreError error = put_error(driver, e);
    EXPECT_TRUE(error.retryable()) << error.what();
    EXPECT_TRUE(contains(error.what(), "abort and retry the whole transaction")) << error.what();
    EXPECT_TRUE(contains(error.what(), "code " + std::to_string(e.code))) << error.what();
    EXPECT_TRUE(contains(error.what(), "01890a5d-ac96-774b-bcce-b302099a8057")) << error.what();
    EXPECT_EQ(driver.inserts.size(), 1u);  // sent once; the retry is the caller's whole transaction
  }
}

TEST(MongoTransactionalPut, ADuplicateIdIsAClearPermanentError) {
  FakeDriver driver;
  const StoreError error = put_error(
      driver, {DriverError::Kind::server, 11000, "E11000 duplicate key error collection: app.outbox_orders", {}});
  EXPECT_FALSE(error.retryable());
  EXPECT_TRUE(contains(error.what(), "exists already (duplicate _id")) << error.what();
  EXPECT_TRUE(contains(error.what(), "01890a5d-ac96-774b-bcce-b302099a8057")) << error.what();
}

TEST(MongoTransactionalPut, OtherErrorsArePermanentAndNameTheServerCode) {
  FakeDriver driver;
  const StoreError error =
      put_error(driver, {DriverError::Kind::server, 13, "not authorized on app to execute command", {}});
  EXPECT_FALSE(error.retryable());
  EXPECT_TRUE(contains(error.what(), "code 13: not authorized")) << error.what();
}

}  // namespace

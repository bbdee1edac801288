// Which MongoDB errors the store reports as retryable (src/store/mongodb/client.cpp): the relay
// backs off and tries again on those, and stops on the others.
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <cstring>

#include "store/mongodb/client.hpp"

namespace {

bson_error_t server_error(std::uint32_t code, const char* message) {
  bson_error_t e{};
  e.domain = MONGOC_ERROR_SERVER;
  e.code = code;
  std::strncpy(e.message, message, sizeof e.message - 1);
  return e;
}

using outbox::mongodb::detail::is_retryable;

TEST(MongoErrors, NetworkAndServerSelectionErrorsAreRetryable) {
  bson_error_t e{};
  e.domain = MONGOC_ERROR_STREAM;
  e.code = MONGOC_ERROR_STREAM_SOCKET;
  EXPECT_TRUE(is_retryable(e, nullptr));
  e.domain = MONGOC_ERROR_SERVER_SELECTION;
  e.code = MONGOC_ERROR_SERVER_SELECTION_FAILURE;
  EXPECT_TRUE(is_retryable(e, nullptr));
}

TEST(MongoErrors, InterruptedOrBusyOperationsAreRetryable) {
  EXPECT_TRUE(is_retryable(server_error(11601, "operation was interrupted"), nullptr));
  // FerretDB on SQLite: InternalError carrying SQLite's SQLITE_INTERRUPT.
  EXPECT_TRUE(is_retryable(
      server_error(1,
                   "[msg_getmore.go:256 handler.(*Handler).MsgGetMore] [collection.go:94 sqlite.(*collection).Query] "
                   "interrupted (9)"),
      nullptr));
  // FerretDB on SQLite: InternalError carrying SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT.
  EXPECT_TRUE(is_retryable(server_error(1,
                                        "[msg_insert.go:168 handler.(*Handler).MsgInsert] [collection.go:135 "
                                        "sqlite.(*collection).InsertAll.func1] database is locked (517)"),
                           nullptr));
}

TEST(MongoErrors, OtherServerErrorsAreNot) {
  EXPECT_FALSE(is_retryable(server_error(1, "some other internal error"), nullptr));
  EXPECT_FALSE(is_retryable(server_error(13, "not authorized on shop to execute command"), nullptr));
  EXPECT_FALSE(is_retryable(server_error(11000, "E11000 duplicate key error"), nullptr));
  bson_error_t client{};
  client.domain = MONGOC_ERROR_CLIENT;
  client.code = 1;
  std::strncpy(client.message, "interrupted (9)", sizeof client.message - 1);
  EXPECT_FALSE(is_retryable(client, nullptr)) << "only a server's InternalError carries FerretDB's interruption";
}

// A tailable cursor the server ended is reopened by the capped tail, not reported as an error.
TEST(MongoErrors, CursorsTheServerEndedAreRecognised) {
  using outbox::mongodb::detail::is_cursor_ended;
  EXPECT_TRUE(is_cursor_ended(server_error(136, "CappedPositionLost")));
  EXPECT_TRUE(is_cursor_ended(server_error(43, "cursor id 7 not found")));
  // FerretDB 1.24, seen in CI on a capped tail's getMore while relays were SIGKILLed.
  EXPECT_TRUE(is_cursor_ended(server_error(
      1,
      "[msg_getmore.go:256 handler.(*Handler).MsgGetMore] [msg_getmore.go:335 handler.(*Handler).awaitData.func1] "
      "[cursor.go:120 cursor.(*Cursor).Reset] [query_iterator.go:91 sqlite.(*queryIterator).Next] iterator is "
      "read to the end or closed")));
  EXPECT_FALSE(is_cursor_ended(server_error(1, "some other internal error")));
  EXPECT_FALSE(is_cursor_ended(server_error(13, "not authorized on shop to execute command")));
}

TEST(MongoErrors, ErrorLabelsDecideToo) {
  bson_t* reply = BCON_NEW("ok", BCON_INT32(0), "errorLabels", "[", BCON_UTF8("TransientTransactionError"), "]");
  EXPECT_TRUE(is_retryable(server_error(251, "NoSuchTransaction"), reply));
  bson_destroy(reply);
}

}  // namespace

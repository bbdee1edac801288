// Outbox::put_and_commit in table mode (the checks are in put_and_commit_checks.hpp, shared with
// WAL mode), and what only table mode has: a key lock that times out inside the flight.
#include <cmath>

#include "put_and_commit_checks.hpp"

using namespace testing_pg;
namespace checks = testing_pg::put_and_commit;

class PgPutAndCommit : public PgTest {};

TEST_F(PgPutAndCommit, CommitsTheBusinessRowsAndEveryMessageInOneFlight) {
  checks::commits_business_rows_and_messages_in_one_flight(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, TypedMessagesRideWithTheCommitThroughACommitWriter) {
  checks::typed_messages_ride_with_the_commit(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, AWriterRefusesPutsKeptInATransactionThatEnded) {
  checks::a_writer_refuses_puts_kept_in_a_transaction_that_ended(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, ALargeBatchCommitsInOneCall) { checks::a_large_batch_commits_in_one_call(*a, *orders, uri); }

TEST_F(PgPutAndCommit, AnInvalidMessageSendsNothingAndLeavesTheTransactionOpen) {
  checks::an_invalid_message_sends_nothing_and_leaves_the_transaction_open(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, AFailingCommitRollsEverythingBackAndLeavesTheConnectionUsable) {
  checks::a_failing_commit_rolls_everything_back_and_leaves_the_connection_usable(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, ADeallocatedStatementFailsOnceThenIsPreparedAgain) {
  checks::a_deallocated_statement_fails_once_then_is_prepared_again(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, RefusesWithoutAUsableTransactionOrInsideAPipeline) {
  checks::refuses_without_a_usable_transaction_or_inside_a_pipeline(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, AConnectionKilledBeforeTheCallThrowsAndCommitsNothing) {
  checks::a_connection_killed_before_the_call_throws_and_commits_nothing(*a, *orders, uri);
}

TEST_F(PgPutAndCommit, APutThatFailsOnTheServerRollsBackTheWholeTransaction) {
  // Another transaction holds the key's lock; this one's put gives up waiting (lock_timeout), so
  // the statement after it (another put) and COMMIT never run.
  Conn b(uri);
  exec(b, "BEGIN");
  orders->put(b, order_created(9, "order-9"));
  exec(*a, "CREATE TEMP TABLE biz (nr int)");
  exec(*a, "BEGIN");
  exec(*a, "SET LOCAL lock_timeout = '200ms'");
  exec(*a, "INSERT INTO biz VALUES (1)");
  try {
    orders->put_and_commit(*a, {order_created(1, "order-1"), order_created(10, "order-9"), order_created(11)});
    FAIL() << "expected the key lock to time out";
  } catch (const outbox::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("55P03"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was committed"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("at COMMIT"), std::string::npos) << e.what();
  }
  EXPECT_EQ(PQtransactionStatus(*a), PQTRANS_IDLE);
  exec(b, "COMMIT");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM biz"), "0");
  EXPECT_EQ(ordernrs(checks::committed_messages(uri, name, 1)), (std::vector<std::int64_t>{9}));
}

namespace shipped_typed {
struct Shipped {
  std::int64_t ordernr = 0;
  double weight = 0;
  std::string carrier;
};
OUTBOX_MESSAGE(Shipped, "order_shipped", ordernr, weight, carrier)
}  // namespace shipped_typed

TEST_F(PgPutAndCommit, ATypedPutOfTheDerivedSchemaIsCheckedWhenKeptNotAtCommit) {
  // The derived schema's fast path: the text is written from the value and trusted, so what the
  // type cannot guarantee (a finite double) is checked by put(), before anything is kept.
  using Events = outbox::MessageSet<shipped_typed::Shipped>;
  outbox::postgres::Outbox shipped(name + "_s", Events::registry());
  shipped.init(*a);
  auto w = shipped.commit_writer(*a);
  exec(*a, "BEGIN");
  Events::put(w, shipped_typed::Shipped{1, 2.5, "dhl"}, "order-1");
  EXPECT_THROW(Events::put(w, shipped_typed::Shipped{2, std::nan(""), "dhl"}, "order-2"), outbox::ValidationError);
  Events::put(w, shipped_typed::Shipped{3, 1.0, "ups"}, "order-3");
  EXPECT_EQ(w.size(), 2u) << "the refused message is not kept";
  w.commit();
  EXPECT_EQ(scalar(*a, "SELECT string_agg(data, ',' ORDER BY position) FROM \"outbox_" + name + "_s\""),
            "{\"carrier\":\"dhl\",\"ordernr\":1,\"weight\":2.5},{\"carrier\":\"ups\",\"ordernr\":3,\"weight\":1.0}");
}

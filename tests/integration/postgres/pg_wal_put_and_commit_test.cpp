// Outbox::put_and_commit in WAL mode: the same checks as table mode (put_and_commit_checks.hpp).
#include "pg_wal_fixture.hpp"
#include "put_and_commit_checks.hpp"

using namespace testing_pg;
namespace checks = testing_pg::put_and_commit;

class WalPutAndCommit : public WalTest {};

TEST_F(WalPutAndCommit, CommitsTheBusinessRowsAndEveryMessageInOneFlight) {
  checks::commits_business_rows_and_messages_in_one_flight(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, TypedMessagesRideWithTheCommitThroughACommitWriter) {
  checks::typed_messages_ride_with_the_commit(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, AWriterRefusesPutsKeptInATransactionThatEnded) {
  checks::a_writer_refuses_puts_kept_in_a_transaction_that_ended(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, ALargeBatchCommitsInOneCall) { checks::a_large_batch_commits_in_one_call(*a, *orders, uri); }

TEST_F(WalPutAndCommit, AnInvalidMessageSendsNothingAndLeavesTheTransactionOpen) {
  checks::an_invalid_message_sends_nothing_and_leaves_the_transaction_open(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, AFailingCommitRollsEverythingBackAndLeavesTheConnectionUsable) {
  checks::a_failing_commit_rolls_everything_back_and_leaves_the_connection_usable(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, ADeallocatedStatementFailsOnceThenIsPreparedAgain) {
  checks::a_deallocated_statement_fails_once_then_is_prepared_again(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, RefusesWithoutAUsableTransactionOrInsideAPipeline) {
  checks::refuses_without_a_usable_transaction_or_inside_a_pipeline(*a, *orders, uri);
}

TEST_F(WalPutAndCommit, AConnectionKilledBeforeTheCallThrowsAndCommitsNothing) {
  checks::a_connection_killed_before_the_call_throws_and_commits_nothing(*a, *orders, uri);
}

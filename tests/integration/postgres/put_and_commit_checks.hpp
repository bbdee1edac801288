// Outbox::put_and_commit, checked the same way in table mode (pg_put_and_commit_test.cpp) and in
// WAL mode (pg_wal_put_and_commit_test.cpp): the puts and COMMIT leave in one flight, and every
// outcome ends the transaction as documented, leaving the connection usable.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "outbox/typed.hpp"
#include "pg_fixture.hpp"

namespace testing_pg::put_and_commit {

// The messages a tail from the beginning reads within a short wait (all of them, in order).
inline std::vector<outbox::Message> committed_messages(const std::string& uri, const std::string& outbox,
                                                       std::size_t expected) {
  auto tail = outbox::open_store(uri)->tail(outbox, outbox::Cursor::beginning());
  auto got = drain(*tail, expected, std::chrono::seconds(10));
  for (auto& m : tail->next(std::chrono::milliseconds(300))) got.push_back(std::move(m));  // nothing more
  return got;
}

// How many Sync and Query messages the client sent while `f` ran: each ends a request that the
// client then waits for, so this counts its network round trips.
template <class F>
int round_trips(PGconn* c, F&& f) {
  std::FILE* trace = std::tmpfile();
  PQtrace(c, trace);
  f();
  PQuntrace(c);
  std::rewind(trace);
  int trips = 0;
  char line[4096];
  while (std::fgets(line, sizeof line, trace) != nullptr) {
    const std::string s(line);
    if (s.find("\tF\t") == std::string::npos) continue;
    if (s.find("\tSync") != std::string::npos || s.find("\tQuery") != std::string::npos) ++trips;
  }
  std::fclose(trace);
  return trips;
}

inline void commits_business_rows_and_messages_in_one_flight(PGconn* c, const outbox::postgres::Outbox& box,
                                                             const std::string& uri) {
  exec(c, "CREATE TEMP TABLE biz (nr int)");
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (1)");
  std::vector<outbox::Message> sent;
  const int trips = round_trips(c, [&] {
    sent = box.put_and_commit(c, {order_created(1, "order-1"), order_created(2), order_created(3, "order-1")});
  });
  EXPECT_EQ(trips, 1) << "the puts and COMMIT must go out in one flight (first call: the statements are prepared "
                         "in it too)";
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE) << "committed";
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_GT(sent[0].position, 0);
  EXPECT_LT(sent[0].position, sent[1].position);
  EXPECT_LT(sent[1].position, sent[2].position);
  for (const auto& m : sent) EXPECT_FALSE(m.id.empty());

  // Again on the same connection: the statements are prepared by now.
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (2)");
  outbox::Message fourth;
  EXPECT_EQ(round_trips(c, [&] { fourth = box.put_and_commit(c, order_created(4, "order-4")); }), 1);
  EXPECT_GT(fourth.position, sent[2].position);
  EXPECT_EQ(scalar(c, "SELECT string_agg(nr::text, ',' ORDER BY nr) FROM biz"), "1,2");
  // What the count above is measured against: put() and then COMMIT wait for two round trips.
  exec(c, "BEGIN");
  EXPECT_EQ(round_trips(c,
                        [&] {
                          box.put(c, order_created(5));
                          exec(c, "COMMIT");
                        }),
            2);

  const auto got = committed_messages(uri, box.name(), 5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].id, sent[i].id);
    EXPECT_EQ(got[i].position, sent[i].position);
  }
}

struct TypedOrder {
  std::int64_t ordernr = 0;
};
OUTBOX_MESSAGE(TypedOrder, "order_created", ordernr)

// Typed puts through a CommitWriter: kept (position 0) until commit(), which commits them with the
// business rows in one flight; a value the caller destroyed before commit() is not needed.
inline void typed_messages_ride_with_the_commit(PGconn* c, const outbox::postgres::Outbox& box,
                                                const std::string& uri) {
  using Events = outbox::MessageSet<TypedOrder>;
  exec(c, "CREATE TEMP TABLE biz (nr int)");
  auto w = box.commit_writer(c);
  EXPECT_THROW(Events::put(w, TypedOrder{1}), outbox::UsageError) << "no transaction";
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (1)");
  const auto first = Events::put(w, TypedOrder{1}, "order-1");
  EXPECT_EQ(first.position, 0) << "known at commit";
  {
    const TypedOrder gone{2};
    Events::put(w, gone, "order-2");
  }
  EXPECT_EQ(w.size(), 2u);
  std::vector<outbox::Message> done;
  EXPECT_EQ(round_trips(c, [&] { done = w.commit(); }), 1);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_GT(done[0].position, 0);
  EXPECT_LT(done[0].position, done[1].position);
  EXPECT_FALSE(done[1].typed_origin.has_value()) << "nothing may point at the caller's value";
  const auto got = committed_messages(uri, box.name(), 2);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].id, done[1].id);
  EXPECT_EQ(got[1].position, done[1].position);
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM biz"), "1");
}

// A CommitWriter belongs to the transaction of its first kept put. When the caller ends that one
// otherwise (ROLLBACK, or a COMMIT of its own), what it kept must never be sent in the next
// transaction: that would announce events of a transaction that did not happen. A savepoint
// rolled back inside the same transaction is not an end; a writer emptied by commit() serves the
// next transaction.
inline void a_writer_refuses_puts_kept_in_a_transaction_that_ended(PGconn* c, const outbox::postgres::Outbox& box,
                                                                   const std::string& uri) {
  using Events = outbox::MessageSet<TypedOrder>;
  exec(c, "CREATE TEMP TABLE biz (nr int)");
  auto w = box.commit_writer(c);

  // Kept in a transaction rolled back, then commit() in the next one: refused, nothing sent, the
  // caller's new transaction open and usable.
  exec(c, "BEGIN");
  Events::put(w, TypedOrder{1}, "order-1");
  exec(c, "ROLLBACK");
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (2)");
  try {
    w.commit();
    ADD_FAILURE() << "commit() sent puts kept in a rolled-back transaction";
  } catch (const outbox::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("ended"), std::string::npos) << e.what();
  }
  EXPECT_EQ(w.size(), 0u) << "the stale puts are dropped";
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INTRANS);
  Events::put(w, TypedOrder{2}, "order-2");
  w.commit();
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);

  // Kept, then the caller commits on its own: a put() in the next transaction refuses too.
  exec(c, "BEGIN");
  Events::put(w, TypedOrder{3});
  exec(c, "COMMIT");
  exec(c, "BEGIN");
  EXPECT_THROW(Events::put(w, TypedOrder{4}), outbox::UsageError);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INTRANS);
  exec(c, "ROLLBACK");

  // A savepoint rolled back is the same transaction: what was kept before it commits.
  exec(c, "BEGIN");
  Events::put(w, TypedOrder{5});
  exec(c, "SAVEPOINT s");
  exec(c, "INSERT INTO biz VALUES (5)");
  exec(c, "ROLLBACK TO SAVEPOINT s");
  const auto done = w.commit();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_GT(done[0].position, 0);

  EXPECT_EQ(ordernrs(committed_messages(uri, box.name(), 2)), (std::vector<std::int64_t>{2, 5}));
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM biz"), "1");
}

// A flight larger than the socket buffers both ways: libpq reads results while it waits to send,
// so neither side blocks the other.
inline void a_large_batch_commits_in_one_call(PGconn* c, const outbox::postgres::Outbox& box, const std::string& uri) {
  constexpr int kMessages = 20000;  // about 1.4 MB of results back, 10 MB of statements out
  std::vector<outbox::Message> batch;
  for (int i = 1; i <= kMessages; ++i) {
    auto m = order_created(i, "order-" + std::to_string(i % 7));
    m.headers["padding"] = std::string(300, 'x');
    batch.push_back(std::move(m));
  }
  exec(c, "BEGIN");
  const auto sent = box.put_and_commit(c, std::move(batch));
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
  const auto got = committed_messages(uri, box.name(), kMessages);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(got[static_cast<std::size_t>(i)].position, sent[static_cast<std::size_t>(i)].position) << i;
  }
}

inline void an_invalid_message_sends_nothing_and_leaves_the_transaction_open(PGconn* c,
                                                                             const outbox::postgres::Outbox& box,
                                                                             const std::string& uri) {
  exec(c, "CREATE TEMP TABLE biz (nr int)");
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (1)");
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "one"}};
  EXPECT_THROW(box.put_and_commit(c, {order_created(1), bad}), outbox::ValidationError);
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INTRANS) << "the caller's transaction stays open and usable";
  outbox::Message bad_id = order_created(2);
  bad_id.id = "order-2-\xff";  // the server would fail the whole transaction on it
  EXPECT_THROW(box.put_and_commit(c, {order_created(1), bad_id}), outbox::ValidationError);
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INTRANS) << "the caller's transaction stays open and usable";
  exec(c, "INSERT INTO biz VALUES (2)");
  exec(c, "COMMIT");
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM biz"), "2");
  EXPECT_TRUE(committed_messages(uri, box.name(), 0).empty()) << "the valid message before the bad one was not sent";
}

inline void a_failing_commit_rolls_everything_back_and_leaves_the_connection_usable(PGconn* c,
                                                                                    const outbox::postgres::Outbox& box,
                                                                                    const std::string& uri) {
  // A deferred constraint is checked at COMMIT: the COMMIT itself fails.
  exec(c, "CREATE TEMP TABLE biz (nr int UNIQUE DEFERRABLE INITIALLY DEFERRED)");
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (1), (1)");
  try {
    box.put_and_commit(c, order_created(1, "order-1"));
    FAIL() << "expected the COMMIT to fail";
  } catch (const outbox::CommitInDoubt& e) {
    FAIL() << "not in doubt: the server answered: " << e.what();
  } catch (const outbox::StoreError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("23505"), std::string::npos) << what;
    EXPECT_NE(what.find("at COMMIT"), std::string::npos) << what;
    EXPECT_NE(what.find("nothing was committed"), std::string::npos) << what;
    EXPECT_FALSE(e.retryable()) << what;
  }
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM biz"), "0");
  EXPECT_TRUE(committed_messages(uri, box.name(), 0).empty());
  // The connection goes on: out of pipeline mode, no result left over.
  EXPECT_EQ(PQpipelineStatus(c), PQ_PIPELINE_OFF);
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz VALUES (2)");
  box.put_and_commit(c, order_created(2, "order-2"));
  EXPECT_EQ(ordernrs(committed_messages(uri, box.name(), 1)), (std::vector<std::int64_t>{2}));
}

inline void a_deallocated_statement_fails_once_then_is_prepared_again(PGconn* c, const outbox::postgres::Outbox& box,
                                                                      const std::string& uri) {
  exec(c, "BEGIN");
  box.put_and_commit(c, order_created(1));
  // What a connection pooler's DISCARD ALL or a DEALLOCATE does to statements prepared earlier.
  exec(c, "DEALLOCATE ALL");
  exec(c, "BEGIN");
  try {
    box.put_and_commit(c, order_created(2));
    FAIL() << "expected the put of a deallocated statement to fail";
  } catch (const outbox::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("26000"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was committed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
  exec(c, "BEGIN");
  box.put_and_commit(c, order_created(3));  // the statement is prepared again in this flight
  EXPECT_EQ(ordernrs(committed_messages(uri, box.name(), 2)), (std::vector<std::int64_t>{1, 3}));
}

inline void refuses_without_a_usable_transaction_or_inside_a_pipeline(PGconn* c, const outbox::postgres::Outbox& box,
                                                                      const std::string& uri) {
  EXPECT_THROW(box.put_and_commit(c, order_created(1)), outbox::UsageError) << "no transaction";
  exec(c, "BEGIN");
  EXPECT_THROW(exec(c, "SELECT 1/0"), std::runtime_error);
  EXPECT_THROW(box.put_and_commit(c, order_created(2)), outbox::UsageError) << "the transaction has failed";
  exec(c, "ROLLBACK");
  exec(c, "BEGIN");
  ASSERT_EQ(PQenterPipelineMode(c), 1);
  EXPECT_THROW(box.put_and_commit(c, order_created(3)), outbox::UsageError) << "the caller's own pipeline";
  ASSERT_EQ(PQexitPipelineMode(c), 1);
  EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INTRANS);
  exec(c, "ROLLBACK");
  EXPECT_TRUE(committed_messages(uri, box.name(), 0).empty());
}

inline void a_connection_killed_before_the_call_throws_and_commits_nothing(PGconn* c,
                                                                           const outbox::postgres::Outbox& box,
                                                                           const std::string& uri) {
  exec(c, "CREATE TABLE IF NOT EXISTS biz_killed (nr int)");
  exec(c, "BEGIN");
  exec(c, "INSERT INTO biz_killed VALUES (1)");
  {
    Conn killer(uri);
    exec(killer, "SELECT pg_terminate_backend(" + std::to_string(PQbackendPID(c)) + ")");
  }
  // The backend is gone: sending or reading fails, never a crash. What the client can know differs
  // with the moment it notices (CommitInDoubt is a StoreError).
  try {
    box.put_and_commit(c, order_created(1));
    ADD_FAILURE() << "put_and_commit on a terminated connection succeeded";
  } catch (const outbox::StoreError& e) {
    std::printf("put_and_commit on a terminated connection: %s\n", e.what());
  }
  Conn fresh(uri);
  EXPECT_EQ(scalar(fresh, "SELECT count(*) FROM biz_killed"), "0");
  exec(fresh, "DROP TABLE biz_killed");
  EXPECT_TRUE(committed_messages(uri, box.name(), 0).empty());
}

}  // namespace testing_pg::put_and_commit

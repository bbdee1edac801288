// The store contract (outbox/store.hpp), checked the same way for every store kind: put and
// rollback, tail order, leases, seek, dead letters, retention, hard-limit accounting, status and
// lag. Only outbox::Store is used, plus each store's write-side API for the caller's transaction.
// Where a kind differs on purpose, its Capabilities say so (store_kind.hpp).
#include <functional>
#include <thread>

#include "conformance_fixture.hpp"
#include "outbox/errors.hpp"

using namespace conformance;
using namespace std::chrono_literals;
using outbox::Cursor;
using outbox::Message;

namespace {

// Every field a store keeps must come back as it was put.
void expect_same_message(const Message& got, const Message& put) {
  EXPECT_EQ(got.id, put.id);
  EXPECT_EQ(got.outbox, put.outbox);
  EXPECT_EQ(got.type, put.type);
  EXPECT_EQ(got.key, put.key);
  EXPECT_EQ(got.data, put.data);
  EXPECT_EQ(got.headers, put.headers);
  EXPECT_EQ(got.created, put.created);
  EXPECT_EQ(got.position, put.position);
}

// A message whose data and headers go beyond plain ASCII and small numbers: they must come back
// exactly.
Message rich_order(std::int64_t nr, std::string key) {
  Message m = order(nr, std::move(key), {{"h1", "v1"}, {"h2", ""}, {"unicode", "\u00e9t\u00e9"}});
  m.data = {{"ordernr", nr},
            {"big", (std::int64_t{1} << 53) + 1},
            {"note", "gr\u00fc\u00dfe \"quoted\" \u2603 \\ /"},
            {"items", {1, 2.5, -0.125, nullptr, true, false, "x"}},
            {"nested", {{"empty", nlohmann::json::object()}, {"list", nlohmann::json::array()}}}};
  return m;
}

std::string name_of(const ::testing::TestParamInfo<StoreKind>& info) { return info.param.name; }

}  // namespace

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::ValuesIn(store_kinds()), name_of);
// A build without any store backend has no kinds to check.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);

// Store::put (the CLI's `put`): validated, written in a transaction of its own, given an id, a
// created time and a position; a message that fails validation writes nothing.
TEST_P(StoreConformance, StorePutValidatesAndWritesInItsOwnTransaction) {
  store->init(kOutbox);
  store->init(kOutbox);  // idempotent
  EXPECT_EQ(store->outboxes(), std::vector<std::string>{kOutbox});
  const auto registry = testing_support::order_schemas();
  const Message first = store->put(registry, order(1, "k"));
  EXPECT_FALSE(first.id.empty());
  EXPECT_GT(first.position, 0);
  EXPECT_NE(first.created.time_since_epoch().count(), 0);
  Message bad = order(2);
  bad.data = {{"ordernr", "not a number"}};
  EXPECT_THROW(store->put(registry, bad), outbox::ValidationError);
  bad.type = "no_such_type";
  EXPECT_THROW(store->put(registry, bad), outbox::ValidationError);
  const Message second = store->put(registry, order(3));
  EXPECT_GT(second.position, first.position);
  const auto got = read(2);
  ASSERT_EQ(got.size(), 2u);
  expect_same_message(got[0], first);
  expect_same_message(got[1], second);
  EXPECT_EQ(store->status(kOutbox).count, 2) << "the invalid messages wrote nothing";
}

// An id the caller chose is kept as it is; one with a NUL byte or bytes that are not UTF-8 is
// refused before anything is written, and the caller's transaction goes on: PostgreSQL would have
// cut the id at the NUL (two ids the same) or failed the whole transaction on the bad bytes.
TEST_P(StoreConformance, ACallersIdIsKeptAndABadOneIsRefusedBeforeAnythingIsWritten) {
  store->init(kOutbox);
  Message chosen = order(1, "k");
  chosen.id = "order-1-created";
  Message with_nul = order(2, "k");
  with_nul.id = std::string("order-2\0created", 15);
  Message not_utf8 = order(3, "k");
  not_utf8.id = "order-3-\xff";
  auto expect_refused = [](const Message& bad, const std::function<void(const Message&)>& put) {
    try {
      put(bad);
      ADD_FAILURE() << "a put with the id '" << bad.id << "' was not refused";
    } catch (const outbox::ValidationError& e) {
      EXPECT_EQ(e.pointer(), "/id") << e.what();
    }
  };
  if (can().caller_transactions) {
    auto t = backend->begin();
    EXPECT_EQ(t->put(chosen).id, "order-1-created");
    for (const Message& bad : {with_nul, not_utf8}) expect_refused(bad, [&](const Message& m) { t->put(m); });
    t->put(order(4, "k"));  // the transaction is still usable
    t->commit();
  } else {
    EXPECT_EQ(commit({chosen}).at(0).id, "order-1-created");
    for (const Message& bad : {with_nul, not_utf8}) expect_refused(bad, [&](const Message& m) { commit({m}); });
    commit({order(4, "k")});
  }
  EXPECT_THROW(store->put(testing_support::order_schemas(), with_nul), outbox::ValidationError);
  EXPECT_THROW(store->put(testing_support::order_schemas(), not_utf8), outbox::ValidationError);
  const auto got = read(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "order-1-created");
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(store->status(kOutbox).count, 2) << "the refused messages wrote nothing";
}

// A put in a transaction that rolls back is never delivered and never counted; one in a transaction
// still open is not counted until it commits. The message committed after the rollbacks proves that
// nothing rolled back came before it, without waiting for something not to arrive.
TEST_P(StoreConformance, RolledBackPutsNeverAppear) {
  if (!can().caller_transactions) {
    GTEST_SKIP() << GetParam().name << " writes without a caller transaction, so no put can be rolled back";
  }
  store->init(kOutbox);
  commit({order(1), order(2)});
  {
    auto t = backend->begin();
    t->put(order(3, "a"));
    t->put(order(4, "b"));
    const auto st = store->status(kOutbox);
    EXPECT_EQ(st.count, 2) << "an open transaction's puts are not committed messages";
    EXPECT_EQ(st.newest_position, read(2).at(1).position);
    // Destroyed without commit: rolled back.
  }
  commit({order(5)});
  {
    auto t = backend->begin();
    t->put(order(6, "a"));
  }
  commit({order(7, "c")});  // the connection that rolled back goes on working
  const auto got = read(4);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2, 5, 7}));
  EXPECT_EQ(store->status(kOutbox).count, 4);
}

// A tail delivers every committed message, whatever its key (or none), in commit order, with every
// field intact, in batches of the size asked for; a tail opened after a message's checkpoint
// delivers exactly the messages after it; a tail at the end delivers later commits as they come.
TEST_P(StoreConformance, TailDeliversEveryKeyInCommitOrder) {
  store->init(kOutbox);
  std::vector<Message> committed;
  for (auto tx : std::vector<std::vector<Message>>{
           {order(1, "a"), order(2, "b")},
           {order(3)},
           {order(4, "a", {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}), order(5, "c"),
            order(6, "b")},
           {rich_order(7, "a")},
       }) {
    for (auto& m : commit(std::move(tx))) committed.push_back(std::move(m));
  }
  auto tail = store->tail(kOutbox, Cursor::beginning(), {.batch_size = 3});
  std::vector<Message> got;
  while (got.size() < committed.size()) {
    auto batch = tail->next(10s);
    ASSERT_FALSE(batch.empty()) << "the tail stopped after " << got.size() << " messages";
    EXPECT_LE(batch.size(), 3u) << "batch_size bounds a batch";
    for (auto& m : batch) got.push_back(std::move(m));
  }
  ASSERT_EQ(got.size(), committed.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i + 1));
    expect_same_message(got[i], committed[i]);
    EXPECT_FALSE(got[i].checkpoint.empty());
    EXPECT_EQ(got[i].data_json, outbox::serialized_data(committed[i]));
    if (i > 0) EXPECT_GT(got[i].position, got[i - 1].position);
  }
  EXPECT_EQ(ordernrs(read(4, Cursor::after(got[2].checkpoint))), (std::vector<std::int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(ordernrs(read(1, Cursor::after(got[5].checkpoint))), (std::vector<std::int64_t>{7}));

  auto live = store->tail(kOutbox, Cursor::end());
  commit({order(8, "b")});
  commit({order(9, "a"), order(10)});
  EXPECT_EQ(ordernrs(testing_support::drain(*live, 3)), (std::vector<std::int64_t>{8, 9, 10}));
  EXPECT_EQ(ordernrs(testing_support::drain(*tail, 3)), (std::vector<std::int64_t>{8, 9, 10}))
      << "the first tail, still open, follows too";
  EXPECT_THROW(store->tail(kOutbox, Cursor::after("minus one")), outbox::UsageError);
}

// A lease is exclusive: another relay can neither take it nor save through it, seek refuses, and a
// relay that lost it cannot write; the owner renews it; a release by another owner does nothing; a
// release by the owner frees it and the checkpoint survives, also for another connection.
TEST_P(StoreConformance, LeasesAreExclusiveUntilReleased) {
  store->init(kOutbox);
  commit(orders(1, 3));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_FALSE(store->acquire({kOutbox, "c", "relay-a"}, 30s).has_value()) << "a new consumer has no checkpoint";
  store->release({kOutbox, "c", "relay-a"});
  // Whatever a store hands back for a consumer that never saved, it must mean "from the beginning".
  const auto unsaved = store->acquire({kOutbox, "c", "relay-a"}, 30s);
  EXPECT_EQ(ordernrs(read(3, unsaved ? Cursor::after(*unsaved) : Cursor::beginning())),
            (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_THROW(store->acquire({kOutbox, "c", "relay-b"}, 30s), outbox::LeaseLost);
  store->save_checkpoint({kOutbox, "c", "relay-a"}, ms[0].checkpoint, 30s, "ok");
  EXPECT_THROW(store->save_checkpoint({kOutbox, "c", "relay-b"}, ms[1].checkpoint, 30s, "ok"), outbox::LeaseLost);
  EXPECT_THROW(store->seek(kOutbox, "c", store->checkpoint_before(1)), outbox::UsageError)
      << "seek refuses while a relay holds the lease";
  EXPECT_EQ(store->acquire({kOutbox, "c", "relay-a"}, 30s).value_or("(none)"), ms[0].checkpoint)
      << "the owner renews its lease and gets its checkpoint";
  auto st = store->status(kOutbox);
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_TRUE(st.consumers[0].lease_active);
  EXPECT_EQ(st.consumers[0].owner, "relay-a");

  auto other = outbox::open_store(backend->uri());  // another relay's connection
  EXPECT_THROW(other->acquire({kOutbox, "c", "relay-b"}, 30s), outbox::LeaseLost);
  other->release({kOutbox, "c", "relay-b"});  // not the owner: no effect
  EXPECT_THROW(other->acquire({kOutbox, "c", "relay-b"}, 30s), outbox::LeaseLost);
  EXPECT_NO_THROW(store->acquire({kOutbox, "d", "relay-b"}, 30s)) << "leases are per consumer";

  store->release({kOutbox, "c", "relay-a"});
  st = store->status(kOutbox);
  ASSERT_EQ(st.consumers.size(), 2u);
  EXPECT_FALSE(st.consumers[0].lease_active);
  EXPECT_EQ(other->acquire({kOutbox, "c", "relay-b"}, 30s).value_or("(none)"), ms[0].checkpoint)
      << "the checkpoint survives the release";
  EXPECT_THROW(store->save_checkpoint({kOutbox, "c", "relay-a"}, ms[2].checkpoint, 30s, "ok"), outbox::LeaseLost)
      << "the old owner must not write after another relay took over";
  other->save_checkpoint({kOutbox, "c", "relay-b"}, ms[1].checkpoint, 30s, "ok");
  EXPECT_EQ(store->status(kOutbox).consumers.at(0).checkpoint, ms[1].checkpoint);
}

// A lease that is not renewed expires: another relay takes it over with the saved checkpoint, and
// the relay that let it expire is shut out.
TEST_P(StoreConformance, AnExpiredLeaseIsTakenOverAndTheOldOwnerIsShutOut) {
  store->init(kOutbox);
  commit(orders(1, 2));
  const auto ms = read(2);
  ASSERT_EQ(ms.size(), 2u);
  store->acquire({kOutbox, "c", "crashed-relay"}, 1s);
  store->save_checkpoint({kOutbox, "c", "crashed-relay"}, ms[0].checkpoint, 1s, "ok");
  std::this_thread::sleep_for(1100ms);
  EXPECT_FALSE(store->status(kOutbox).consumers.at(0).lease_active);
  EXPECT_EQ(store->acquire({kOutbox, "c", "new-relay"}, 30s).value_or("(none)"), ms[0].checkpoint);
  const auto st = store->status(kOutbox);
  EXPECT_TRUE(st.consumers.at(0).lease_active);
  EXPECT_EQ(st.consumers.at(0).owner, "new-relay");
  EXPECT_THROW(store->save_checkpoint({kOutbox, "c", "crashed-relay"}, ms[1].checkpoint, 30s, "ok"), outbox::LeaseLost);
  EXPECT_THROW(store->acquire({kOutbox, "c", "crashed-relay"}, 30s), outbox::LeaseLost);
}

// seek moves a consumer (also one that never ran) to the beginning, the end or a position, and the
// consumer then resumes there; bad input is refused with UsageError.
TEST_P(StoreConformance, SeekMovesAConsumerToTheBeginningTheEndOrAPosition) {
  store->init(kOutbox);
  commit(orders(1, 5));
  const auto ms = read(5);
  ASSERT_EQ(ms.size(), 5u);
  pass("c", ms[4].checkpoint);
  store->release({kOutbox, "c", "relay-c"});

  auto resumed = [&](const std::string& consumer, std::size_t n) {
    const auto cp = resume_point(consumer);
    EXPECT_TRUE(cp.has_value()) << consumer << " has no checkpoint after seek";
    return ordernrs(read(n, Cursor::after(cp.value_or(store->checkpoint_before(1)))));
  };
  store->seek(kOutbox, "c", store->checkpoint_before(ms[2].position));
  EXPECT_EQ(resumed("c", 3), (std::vector<std::int64_t>{3, 4, 5})) << "to a position: it is delivered next";
  store->seek(kOutbox, "c", store->checkpoint_before(1));
  EXPECT_EQ(resumed("c", 5), (std::vector<std::int64_t>{1, 2, 3, 4, 5})) << "to the beginning";
  store->seek(kOutbox, "c", store->checkpoint_at_end(kOutbox));
  commit({order(6)});
  EXPECT_EQ(resumed("c", 1), (std::vector<std::int64_t>{6})) << "to the end: only what comes after";
  store->seek(kOutbox, "never_ran", store->checkpoint_before(ms[3].position));
  EXPECT_EQ(resumed("never_ran", 3), (std::vector<std::int64_t>{4, 5, 6}));

  EXPECT_THROW(store->seek(kOutbox, "c", "minus one"), outbox::UsageError);
  EXPECT_THROW(store->seek(kOutbox, "Bad Name", store->checkpoint_before(1)), outbox::UsageError);
  EXPECT_THROW(store->seek("no_such_outbox", "c", store->checkpoint_before(1)), outbox::UsageError);
  store->acquire({kOutbox, "c", "relay-c"}, 30s);
  EXPECT_THROW(store->save_checkpoint({kOutbox, "c", "relay-c"}, "not-a-checkpoint", 30s, "ok"), outbox::UsageError);
}

// A dead letter keeps the whole message, the consumer, the error and the attempts, and is counted.
TEST_P(StoreConformance, DeadLettersAreWrittenAndReadBack) {
  store->init(kOutbox);
  store->init("payments");
  commit({rich_order(1, "order-1"), order(2)});
  const auto ms = read(2);
  ASSERT_EQ(ms.size(), 2u);
  const auto before = outbox::now();
  store->dead_letter("kafka", ms[0], "MSG_SIZE_TOO_LARGE: 2000000 > 1000000 bytes", 5);
  store->dead_letter("audit", ms[1], "refused by broker", 1);
  const auto after = outbox::now();
  const auto dead = store->dead_letters(kOutbox, 10);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].consumer, "kafka");
  EXPECT_EQ(dead[0].error, "MSG_SIZE_TOO_LARGE: 2000000 > 1000000 bytes");
  EXPECT_EQ(dead[0].attempts, 5);
  expect_same_message(dead[0].message, ms[0]);
  // Clocks, not durations: the store's clock (the server's, for PostgreSQL) and ours agree closely.
  EXPECT_GE(dead[0].failed_at, before - 60s);
  EXPECT_LE(dead[0].failed_at, after + 60s);
  EXPECT_EQ(dead[1].consumer, "audit");
  EXPECT_EQ(dead[1].error, "refused by broker");
  EXPECT_EQ(dead[1].attempts, 1);
  expect_same_message(dead[1].message, ms[1]);
  EXPECT_LT(dead[0].id, dead[1].id) << "in the order written";
  EXPECT_EQ(store->dead_letters(kOutbox, 1).size(), 1u) << "limit";
  EXPECT_TRUE(store->dead_letters("payments", 10).empty()) << "per outbox";
  EXPECT_EQ(store->status(kOutbox).dead_letters, 2);
  EXPECT_EQ(store->status("payments").dead_letters, 0);
}

// Retention by count deletes, in batches, only what every registered consumer has passed, keeping
// the newest `max_count`.
TEST_P(StoreConformance, RetentionByCountNeverDeletesWhatAConsumerHasNotPassed) {
  store->init(kOutbox);
  commit(orders(1, 100));
  const auto ms = read(100);
  ASSERT_EQ(ms.size(), 100u);
  pass("slow", ms[29].checkpoint);
  pass("fast", ms[79].checkpoint);
  outbox::RetentionPolicy p;
  p.max_count = 10;
  p.batch_size = 7;  // several batches
  auto r = store->enforce_retention(kOutbox, p);
  if (!can().retention) {
    EXPECT_EQ(r.deleted, 0);
    EXPECT_EQ(r.dropped_unpublished, 0);
    EXPECT_EQ(store->status(kOutbox).count, 100);
    return;
  }
  EXPECT_EQ(r.deleted, 30) << "the slow consumer has passed 30";
  EXPECT_EQ(r.dropped_unpublished, 0);
  auto st = store->status(kOutbox);
  EXPECT_EQ(st.count, 70);
  EXPECT_EQ(st.oldest_position, ms[30].position);
  EXPECT_EQ(st.dropped, 0);
  EXPECT_EQ(ordernrs(read(70)).front(), 31) << "a tail from the beginning starts at the oldest kept";
  pass("slow", ms[99].checkpoint);
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 50) << "now the fast consumer (80) bounds it";
  pass("fast", ms[99].checkpoint);
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 10) << "both passed everything: the newest 10 stay";
  st = store->status(kOutbox);
  EXPECT_EQ(st.count, 10);
  EXPECT_EQ(st.oldest_position, ms[90].position);
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 0);
  EXPECT_EQ(st.consumers.at(0).lag_messages, 0);
}

// Retention by age deletes messages older than max_age that every registered consumer has passed;
// with no consumer registered, age alone decides.
TEST_P(StoreConformance, RetentionByAgeNeverDeletesWhatAConsumerHasNotPassed) {
  store->init(kOutbox);
  const auto old = outbox::now() - 2h;
  auto aged = [&](std::int64_t nr, std::string outbox = kOutbox) {
    Message m = order(nr, "", {}, std::move(outbox));
    m.created = old;
    return m;
  };
  commit({aged(1), aged(2), aged(3), order(4), order(5)});
  const auto ms = read(5);
  ASSERT_EQ(ms.size(), 5u);
  EXPECT_EQ(ms[0].created, old) << "put keeps a created time given by the caller";
  store->acquire({kOutbox, "c", "relay-c"}, 30s);  // registered, has passed nothing
  outbox::RetentionPolicy p;
  p.max_age = 1h;
  p.batch_size = 2;
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 0) << "a registered consumer that passed nothing";
  if (!can().retention) {
    store->save_checkpoint({kOutbox, "c", "relay-c"}, ms[4].checkpoint, 30s, "ok");
    EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 0);
    EXPECT_EQ(store->status(kOutbox).count, 5);
    return;
  }
  store->save_checkpoint({kOutbox, "c", "relay-c"}, ms[0].checkpoint, 30s, "ok");
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 1) << "only what the consumer passed";
  store->save_checkpoint({kOutbox, "c", "relay-c"}, ms[4].checkpoint, 30s, "ok");
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 2) << "the young messages stay";
  auto st = store->status(kOutbox);
  EXPECT_EQ(st.count, 2);
  EXPECT_EQ(st.oldest_position, ms[3].position);

  // An old message behind younger ones (a caller-given created time).
  const auto late = commit({aged(6)});
  const auto late_read = read(1, Cursor::after(ms[4].checkpoint));
  ASSERT_EQ(late_read.size(), 1u);
  expect_same_message(late_read[0], late[0]);
  store->save_checkpoint({kOutbox, "c", "relay-c"}, late_read[0].checkpoint, 30s, "ok");
  const auto r = store->enforce_retention(kOutbox, p);
  if (can().age_rule == AgeRule::every_message) {
    EXPECT_EQ(r.deleted, 1);
    EXPECT_EQ(store->status(kOutbox).count, 2);
  } else {
    EXPECT_EQ(r.deleted, 0) << "it stays until the younger ones before it go";
    EXPECT_EQ(store->status(kOutbox).count, 3);
  }

  store->init("audit");  // no consumer registered
  commit({aged(1, "audit"), aged(2, "audit"), order(3, "", {}, "audit")});
  EXPECT_EQ(store->enforce_retention("audit", p).deleted, 2) << "no consumer: age alone decides";
  EXPECT_EQ(store->status("audit").count, 1);
}

// max_count 0 keeps none of the messages every consumer has passed.
TEST_P(StoreConformance, RetentionByCountZeroKeepsNothingEveryConsumerPassed) {
  if (!can().retention) GTEST_SKIP() << GetParam().name << " has no retention of its own (Capabilities::retention)";
  // Found by this suite: nth_newest(0) returned the newest position (SQLite: OFFSET -1 acts as 0;
  // PostgreSQL and MongoDB clamped n - 1 to 0), so max_count = 0 kept one message ("deleted 9,
  // expected 10; count 1, expected 0"). The CLI never passes 0 (--max-count 0 means off); library
  // callers can.
  store->init(kOutbox);
  commit(orders(1, 10));
  const auto ms = read(10);
  ASSERT_EQ(ms.size(), 10u);
  pass("c", ms[9].checkpoint);
  outbox::RetentionPolicy p;
  p.max_count = 0;
  const int kept = can().keeps_newest ? 1 : 0;
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 10 - kept);
  EXPECT_EQ(store->status(kOutbox).count, kept);
}

// Retention that deleted every message a consumer passed leaves it where it was: no lag, and it
// resumes with the next commit.
TEST_P(StoreConformance, AConsumerResumesAfterRetentionDeletedWhatItPassed) {
  if (!can().retention) GTEST_SKIP() << GetParam().name << " has no retention of its own (Capabilities::retention)";
  store->init(kOutbox);
  std::vector<Message> aged = orders(1, 3);
  for (auto& m : aged) m.created = outbox::now() - 2h;
  commit(std::move(aged));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  pass("c", ms[2].checkpoint);
  store->release({kOutbox, "c", "relay-c"});
  outbox::RetentionPolicy p;
  p.max_age = 1h;
  const int kept = can().keeps_newest ? 1 : 0;
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, 3 - kept);
  auto st = store->status(kOutbox);
  EXPECT_EQ(st.count, kept);
  if (kept == 0) EXPECT_FALSE(st.oldest_position.has_value());
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].checkpoint, ms[2].checkpoint);
  EXPECT_EQ(st.consumers[0].lag_messages, 0);
  const auto next = commit({order(4)});
  EXPECT_EQ(store->status(kOutbox).consumers.at(0).lag_messages, 1);
  const auto cp = resume_point("c");
  ASSERT_TRUE(cp.has_value());
  const auto got = read(1, Cursor::after(*cp));
  ASSERT_EQ(got.size(), 1u);
  expect_same_message(got[0], next[0]);
}

// Positions never repeat, even after retention deleted everything it may: a message committed
// afterwards gets a position past every one handed out before, so a consumer that passed them all
// reads it. (SQLite's positions are rowids, max + 1: deleting the newest row would hand its
// position out again, behind the consumer's checkpoint, and the message would never be delivered.)
TEST_P(StoreConformance, PositionsNeverRepeatAfterRetentionDeletedEverythingItMay) {
  if (!can().retention) GTEST_SKIP() << GetParam().name << " has no retention of its own (Capabilities::retention)";
  store->init(kOutbox);
  const auto first = commit(orders(1, 3));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  pass("c", ms[2].checkpoint);
  store->release({kOutbox, "c", "relay-c"});
  outbox::RetentionPolicy p;
  p.max_count = 0;
  p.hard_max_count = 0;
  store->enforce_retention(kOutbox, p);
  const auto next = commit({order(4)});
  EXPECT_GT(next[0].position, first[2].position) << "a position was handed out twice";
  const auto cp = resume_point("c");
  ASSERT_TRUE(cp.has_value());
  const auto got = read(1, Cursor::after(*cp));
  ASSERT_EQ(got.size(), 1u) << "the consumer skipped the message committed after retention";
  expect_same_message(got[0], next[0]);
}

// ... and status still reports the position it passed.
TEST_P(StoreConformance, StatusKeepsAConsumersPositionWhenRetentionDeletedWhatItPassed) {
  if (!can().retention) GTEST_SKIP() << GetParam().name << " has no retention of its own (Capabilities::retention)";
  store->init(kOutbox);
  std::vector<Message> aged = orders(1, 3);
  for (auto& m : aged) m.created = outbox::now() - 2h;
  commit(std::move(aged));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  pass("c", ms[2].checkpoint);
  outbox::RetentionPolicy p;
  p.max_age = 1h;
  EXPECT_EQ(store->enforce_retention(kOutbox, p).deleted, can().keeps_newest ? 2 : 3);
  const auto st = store->status(kOutbox);
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].position, ms[2].position);
}

// A hard limit deletes even what a consumer has not passed, and counts those as dropped, once.
TEST_P(StoreConformance, HardLimitDropsUnpassedMessagesAndCountsThem) {
  store->init(kOutbox);
  commit(orders(1, 50));
  const auto ms = read(50);
  ASSERT_EQ(ms.size(), 50u);
  pass("c", ms[9].checkpoint);
  outbox::RetentionPolicy p;
  p.max_count = 10;
  p.hard_max_count = 20;
  p.batch_size = 7;
  auto r = store->enforce_retention(kOutbox, p);
  if (!can().retention) {
    EXPECT_EQ(r.deleted, 0);
    EXPECT_EQ(r.dropped_unpublished, 0);
    const auto st = store->status(kOutbox);
    EXPECT_EQ(st.count, 50);
    EXPECT_EQ(st.dropped, 0);
    return;
  }
  EXPECT_EQ(r.deleted, 30) << "10 passed, then 20 more down to the hard limit";
  EXPECT_EQ(r.dropped_unpublished, 20) << "positions 11..30 had not been passed";
  auto st = store->status(kOutbox);
  EXPECT_EQ(st.dropped, 20);
  EXPECT_EQ(st.count, 20);
  EXPECT_EQ(st.oldest_position, ms[30].position);
  EXPECT_EQ(st.consumers.at(0).lag_messages, 20);
  r = store->enforce_retention(kOutbox, p);
  EXPECT_EQ(r.deleted, 0);
  EXPECT_EQ(r.dropped_unpublished, 0);
  EXPECT_EQ(store->status(kOutbox).dropped, 20) << "counted once";
  commit(orders(51, 55));
  r = store->enforce_retention(kOutbox, p);
  EXPECT_EQ(r.deleted, 5);
  EXPECT_EQ(r.dropped_unpublished, 5);
  EXPECT_EQ(store->status(kOutbox).dropped, 25) << "drops add up";
}

// status: counts, oldest and newest positions and created times, and per consumer its checkpoint,
// position, lag in messages and seconds, lease and health; dead letters and drops.
TEST_P(StoreConformance, StatusReportsCountsPositionsAndLag) {
  store->init(kOutbox);
  auto st = store->status(kOutbox);
  EXPECT_EQ(st.name, kOutbox);
  EXPECT_EQ(st.count, 0);
  EXPECT_FALSE(st.oldest_position.has_value());
  EXPECT_FALSE(st.newest_position.has_value());
  EXPECT_TRUE(st.consumers.empty());
  EXPECT_EQ(st.dead_letters, 0);
  EXPECT_EQ(st.dropped, 0);
  // An outbox that does not exist is bad input, whichever call names it.
  EXPECT_THROW(store->status("no_such_outbox"), outbox::UsageError);
  EXPECT_THROW(store->tail("no_such_outbox", Cursor::beginning()), outbox::UsageError);
  EXPECT_THROW(store->acquire({"no_such_outbox", "c", "relay-a"}, 30s), outbox::UsageError);
  EXPECT_THROW(store->put(testing_support::order_schemas(), order(1, "", {}, "no_such_outbox")), outbox::UsageError);
  EXPECT_THROW(store->checkpoint_at_end("no_such_outbox"), outbox::UsageError);
  EXPECT_EQ(store->outboxes(), std::vector<std::string>{kOutbox});

  // Created times an hour ago, a second apart, so the lag in seconds is known to the second.
  const auto base = outbox::now() - 1h;
  std::vector<Message> batch;
  for (int i = 1; i <= 8; ++i) {
    Message m = order(i);
    m.created = base + std::chrono::seconds(i);
    batch.push_back(m);
  }
  commit(std::move(batch));
  const auto ms = read(8);
  ASSERT_EQ(ms.size(), 8u);
  pass("a", ms[4].checkpoint);
  store->acquire({kOutbox, "b", "relay-b"}, 30s);  // registered, has passed nothing
  const auto checked_at = outbox::now();
  st = store->status(kOutbox);
  EXPECT_EQ(st.count, 8);
  EXPECT_EQ(st.oldest_position, ms[0].position);
  EXPECT_EQ(st.newest_position, ms[7].position);
  EXPECT_EQ(st.oldest_created, ms[0].created);
  EXPECT_EQ(st.newest_created, ms[7].created);
  ASSERT_EQ(st.consumers.size(), 2u);
  const auto& a = st.consumers[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.checkpoint, ms[4].checkpoint);
  EXPECT_EQ(a.position, ms[4].position);
  EXPECT_EQ(a.lag_messages, 3);
  // Its oldest unpassed message (6) was created 1 h - 6 s before `checked_at`, give or take the time
  // status took; the upper bound only guards against a wrong message or unit.
  const double expected = std::chrono::duration<double>(checked_at - ms[5].created).count();
  EXPECT_GE(a.lag_seconds, expected - 1);
  EXPECT_LT(a.lag_seconds, expected + 300);
  EXPECT_EQ(a.owner, "relay-a");
  EXPECT_TRUE(a.lease_active);
  EXPECT_EQ(a.health, "ok");
  EXPECT_TRUE(a.updated.has_value());
  const auto& b = st.consumers[1];
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.lag_messages, 8) << "a consumer that passed nothing lags by everything";
  EXPECT_GE(b.lag_seconds, std::chrono::duration<double>(checked_at - ms[0].created).count() - 1);
  EXPECT_TRUE(!b.position.has_value() || *b.position < ms[0].position) << b.position.value_or(-1);

  if (can().caller_transactions) {
    // A put in a transaction still open is not lag (nothing a relay could read yet) until it commits.
    auto t = backend->begin();
    t->put(order(9));
    EXPECT_EQ(store->status(kOutbox).consumers.at(0).lag_messages, 3);
    t->commit();
  } else {
    commit({order(9)});
  }
  EXPECT_EQ(store->status(kOutbox).consumers.at(0).lag_messages, 4);

  store->save_checkpoint({kOutbox, "a", "relay-a"}, read(9).at(8).checkpoint, 30s, "ok");
  store->release({kOutbox, "a", "relay-a"});
  st = store->status(kOutbox);
  EXPECT_EQ(st.consumers.at(0).lag_messages, 0);
  EXPECT_EQ(st.consumers.at(0).lag_seconds, 0.0);
  EXPECT_FALSE(st.consumers.at(0).lease_active);
  EXPECT_EQ(st.count, 9);
}

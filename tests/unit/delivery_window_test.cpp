// The relay's delivery window on its own: outcomes applied by position whatever order positions
// were delivered in and whatever order outcomes arrive in; the resolved prefix; retry choice.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core/delivery_window.hpp"

using outbox::Delivery;
using outbox::Message;
using outbox::Outcome;
using outbox::detail::DeliveryWindow;
using Applied = DeliveryWindow::Applied;

namespace {

std::vector<Message> messages(std::initializer_list<std::int64_t> positions) {
  std::vector<Message> out;
  for (auto p : positions) {
    Message m;
    m.position = p;
    m.checkpoint = "cp" + std::to_string(p);
    out.push_back(m);
  }
  return out;
}

Delivery ok(std::int64_t p) { return {p, Outcome::ok, ""}; }
Delivery retryable(std::int64_t p) { return {p, Outcome::retryable, "broker down"}; }
Delivery permanent(std::int64_t p) { return {p, Outcome::permanent, "too large"}; }

std::vector<std::int64_t> positions(const std::vector<Message>& batch) {
  std::vector<std::int64_t> out;
  for (const auto& m : batch) out.push_back(m.position);
  return out;
}

}  // namespace

TEST(DeliveryWindow, AppliesOutcomesOfNonMonotonePositions) {
  DeliveryWindow w(3);
  w.add(messages({2, 3, 1, 5, 6, 4}));  // commit order, as a PostgreSQL tail delivers a late commit
  EXPECT_EQ(w.in_flight(), 6u);
  for (auto p : {4, 1, 6, 3, 5, 2}) EXPECT_EQ(w.apply(ok(p)).kind, Applied::acknowledged) << p;
  EXPECT_EQ(w.in_flight(), 0u);
  const auto prefix = w.pop_resolved_prefix();
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(prefix->checkpoint, "cp4") << "the last message in delivery order, not the highest position";
  EXPECT_EQ(prefix->position, 4);
  EXPECT_EQ(prefix->count, 6u);
  EXPECT_TRUE(w.empty());
}

TEST(DeliveryWindow, ThePrefixStopsAtTheFirstUnresolvedMessageInDeliveryOrder) {
  DeliveryWindow w(3);
  w.add(messages({10, 12, 11, 13}));
  w.apply(ok(11));
  w.apply(ok(13));
  EXPECT_FALSE(w.pop_resolved_prefix().has_value()) << "10 is still in flight";
  w.apply(ok(10));
  auto prefix = w.pop_resolved_prefix();
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(prefix->checkpoint, "cp10") << "12 (delivered second) is not acknowledged";
  w.apply(ok(12));
  prefix = w.pop_resolved_prefix();
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(prefix->checkpoint, "cp13");
  EXPECT_EQ(prefix->count, 3u);
}

TEST(DeliveryWindow, LateRepeatedAndUnknownReportsAreIgnored) {
  DeliveryWindow w(3);
  w.add(messages({5, 4}));
  EXPECT_EQ(w.apply(ok(4)).kind, Applied::acknowledged);
  EXPECT_EQ(w.apply(ok(4)).kind, Applied::ignored) << "repeated";
  EXPECT_EQ(w.apply(retryable(4)).kind, Applied::ignored) << "a failure after the ack changes nothing";
  EXPECT_EQ(w.apply(ok(99)).kind, Applied::ignored) << "never in the window";
  EXPECT_EQ(w.in_flight(), 1u);
}

TEST(DeliveryWindow, ShuffledOutcomesOfAThousandLateCommitsResolveEverything) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int64_t> order(1000);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i) + 1;
    // Commit order: positions displaced by up to 20 places (transactions committing late).
    for (std::size_t i = 0; i + 1 < order.size(); ++i) {
      const std::size_t j = std::min(order.size() - 1, i + rng() % 20);
      std::swap(order[i], order[j]);
    }
    DeliveryWindow w(3);
    std::size_t resolved = 0;
    std::string last_checkpoint;
    for (std::size_t at = 0; at < order.size(); at += 50) {
      std::vector<Message> batch;
      for (std::size_t i = at; i < at + 50; ++i) {
        Message m;
        m.position = order[i];
        m.checkpoint = std::to_string(i + 1);  // commit sequence, as a snapshot cursor encodes it
        batch.push_back(m);
      }
      w.add(batch);
      std::shuffle(batch.begin(), batch.end(), rng);
      for (const auto& m : batch) ASSERT_EQ(w.apply(ok(m.position)).kind, Applied::acknowledged);
      if (auto prefix = w.pop_resolved_prefix()) {
        resolved += prefix->count;
        last_checkpoint = prefix->checkpoint;
      }
    }
    EXPECT_EQ(resolved, 1000u) << "seed " << seed;
    EXPECT_EQ(last_checkpoint, "1000");
    EXPECT_TRUE(w.empty());
  }
}

TEST(DeliveryWindow, RetryableFailuresAreAllRetriedInDeliveryOrder) {
  DeliveryWindow w(3);
  w.add(messages({3, 1, 2, 4}));
  w.apply(retryable(2));
  w.apply(ok(4));
  w.apply(retryable(3));
  w.apply(retryable(1));
  EXPECT_EQ(w.failed(), 3u);
  EXPECT_EQ(w.recovering(), 3u);
  EXPECT_EQ(w.retry_attempt(), 1);
  const auto again = w.take_retry();
  EXPECT_EQ(positions(again), (std::vector<std::int64_t>{3, 1, 2}));
  EXPECT_EQ(w.failed(), 0u);
  EXPECT_EQ(w.in_flight(), 3u);
  w.apply(retryable(3));
  EXPECT_EQ(w.retry_attempt(), 2);
  for (auto p : {1, 2}) w.apply(ok(p));
  w.take_retry();
  w.apply(ok(3));
  EXPECT_EQ(w.recovering(), 0u);
  const auto prefix = w.pop_resolved_prefix();
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(prefix->count, 4u);
  EXPECT_EQ(prefix->checkpoint, "cp4");
}

TEST(DeliveryWindow, APermanentFailureIsIsolatedAndCountsOnlyWhenSentAlone) {
  DeliveryWindow w(2);
  w.add(messages({7, 5, 6}));
  w.apply(permanent(5));  // batched with others: a broker may refuse a batch for one bad message
  w.apply(retryable(7));
  w.apply(retryable(6));
  auto again = w.take_retry();
  EXPECT_EQ(positions(again), (std::vector<std::int64_t>{7})) << "the first failed message goes alone";
  w.apply(ok(7));
  again = w.take_retry();
  EXPECT_EQ(positions(again), (std::vector<std::int64_t>{5}));
  EXPECT_EQ(w.apply(permanent(5)).kind, Applied::failed) << "first rejection while alone";
  again = w.take_retry();
  const auto result = w.apply(permanent(5));
  ASSERT_EQ(result.kind, Applied::dead_letter) << "second rejection while alone reaches max_attempts";
  EXPECT_EQ(result.entry->failures, 3);
  w.dead_lettered(*result.entry);
  again = w.take_retry();
  EXPECT_EQ(positions(again), (std::vector<std::int64_t>{6}));
  w.apply(ok(6));
  const auto prefix = w.pop_resolved_prefix();
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(prefix->count, 3u);
  EXPECT_EQ(prefix->checkpoint, "cp6");
}

TEST(DeliveryWindow, ADeadLetterThatCouldNotBeRecordedIsRetried) {
  DeliveryWindow w(1);
  w.add(messages({9}));
  const auto result = w.apply(permanent(9));
  ASSERT_EQ(result.kind, Applied::dead_letter);
  w.dead_letter_failed(*result.entry);
  EXPECT_EQ(w.failed(), 1u);
  EXPECT_FALSE(w.pop_resolved_prefix().has_value());
  EXPECT_EQ(positions(w.take_retry()), (std::vector<std::int64_t>{9}));
}

TEST(DeliveryWindow, APositionDeliveredTwiceIsRefused) {
  DeliveryWindow w(1);
  w.add(messages({1, 2}));
  EXPECT_THROW(w.add(messages({2})), std::logic_error);
}

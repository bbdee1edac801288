// The crash test's checker must be able to fail: each fault it looks for, planted in a small
// synthetic delivery, is reported (and a clean delivery with replays passes).
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crash_verify.hpp"

namespace {

using outbox::crash::Committed;
using outbox::crash::verify;

// Writer 1 ran 3 transactions: #1 (k0 #1, k1 #1) and #3 (k0 #2) committed, #2 rolled back.
const std::vector<Committed> kCommitted = {
    {1, 1, 0, "k0", 1, "id-a", 1},
    {1, 1, 1, "k1", 1, "id-b", 2},
    {1, 3, 0, "k0", 2, "id-c", 3},
};
const std::map<std::int64_t, std::int64_t> kTransactions = {{1, 3}};

std::string line(const Committed& c) {
  return nlohmann::json{{"created", "2026-01-01T00:00:00.000000Z"},
                        {"data", {{"writer", c.writer}, {"seq", c.seq}, {"idx", c.idx}, {"key_seq", c.key_seq}}},
                        {"headers", nlohmann::json::object()},
                        {"id", c.id},
                        {"key", c.key},
                        {"outbox", "crash"},
                        {"position", c.position},
                        {"type", "crash.event"}}
      .dump();
}

// `restarts`: indexes of the lines a restarted relay wrote first.
outbox::crash::Verdict run(const std::vector<std::string>& lines, const std::set<std::size_t>& restarts = {}) {
  std::string text;
  std::vector<std::size_t> lives;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (restarts.count(i)) lives.push_back(text.size());
    text += lines[i] + "\n";
  }
  return verify(kCommitted, kTransactions, text, lives);
}

const std::string a = line(kCommitted[0]), b = line(kCommitted[1]), c = line(kCommitted[2]);

TEST(CrashVerify, CleanDeliveryWithReplaysPasses) {
  const auto v = run({a, b, a, b, c, c}, {2, 5});
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.distinct, 3);
  EXPECT_EQ(v.duplicates, 3);
  EXPECT_EQ(v.lines, 6);
}

TEST(CrashVerify, ReplayWithinOneRelayLifeIsCaught) {
  const std::string text = a + "\n" + b + "\n" + a + "\n" + b + "\n" + c + "\n";
  // The relay was restarted after the first two lines: a replay, allowed.
  auto v = verify(kCommitted, kTransactions, text, {a.size() + 1 + b.size() + 1});
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.duplicates, 2);
  // No restart there: the same relay went back.
  v = verify(kCommitted, kTransactions, text, {});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.life_order_violations, 1);
  // A torn line belongs to the life that wrote its whole message.
  const std::string torn = a + "\n" + b.substr(0, 10);
  v = verify(kCommitted, kTransactions, torn + b + "\n" + c + "\n", {torn.size()});
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.torn_lines, 1);
}

TEST(CrashVerify, DroppedLineIsLost) {
  const auto v = run({a, b});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.lost, 1);
}

TEST(CrashVerify, KeyOrderViolationIsCaught) {
  const auto v = run({c, b, a});  // k0 #2 first delivered before k0 #1
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.key_order_violations, 1);
  EXPECT_EQ(v.lost, 0);
}

TEST(CrashVerify, RolledBackMessageIsCaught) {
  const auto v = run({a, b, line({1, 2, 0, "k1", 2, "id-rolled-back", 3}), c});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.from_rolled_back, 1);
}

TEST(CrashVerify, AlteredMessageIsCaught) {
  Committed altered = kCommitted[1];
  altered.key = "k0";
  const auto v = run({a, line(altered), c});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.mismatched, 1);
}

TEST(CrashVerify, TornLineIsRecoveredAndPartialLineIsNot) {
  // A relay killed mid-write left half of `c`; its successor appended `c` whole to that line.
  auto v = run({a, b, c.substr(0, c.size() / 2) + c});
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.torn_lines, 1);
  v = run({a, b, c.substr(0, c.size() / 2), c});
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.unparseable, 1);
}

// PostgreSQL: delivery follows commit order, not position order; a lower position after a higher
// one is fine, a message twice in one relay's life is not.
TEST(CrashVerify, WithoutPositionOrderOnlyRepeatsWithinALifeAreCaught) {
  const outbox::crash::VerifyOptions by_commit{.positions_follow_commit_order = false};
  const std::string text = b + "\n" + a + "\n" + c + "\n";  // position 2 before 1: commit order
  auto v = verify(kCommitted, kTransactions, text);
  EXPECT_EQ(v.position_order_violations, 1);
  EXPECT_EQ(v.life_order_violations, 1);
  v = verify(kCommitted, kTransactions, text, {}, by_commit);
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.position_inversions, 1);

  const std::string again = text + b + "\n";
  v = verify(kCommitted, kTransactions, again, {}, by_commit);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.life_order_violations, 1);
  v = verify(kCommitted, kTransactions, again, {text.size()}, by_commit);  // after a restart: a replay
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.duplicates, 1);
  // Per-key order still holds: k0 #2 before k0 #1.
  v = verify(kCommitted, kTransactions, c + "\n" + a + "\n" + b + "\n", {}, by_commit);
  EXPECT_EQ(v.key_order_violations, 1);
}

// Kafka: the output is the topic's partitions one after the other. Keys a, c (k0) and b (k1) in
// different partitions: b's partition read first puts position 2 before 1, and the same relay
// may have sent a message twice (a retry); neither is a fault there. A key's order still is.
TEST(CrashVerify, PartitionsConcatenatedCheckOnlyKeyOrder) {
  const outbox::crash::VerifyOptions partitions{.one_delivery_sequence = false};
  const std::string text = b + "\n" + b + "\n" + a + "\n" + c + "\n";
  auto v = verify(kCommitted, kTransactions, text);
  EXPECT_FALSE(v.ok());
  v = verify(kCommitted, kTransactions, text, {}, partitions);
  EXPECT_TRUE(v.ok()) << v.problems();
  EXPECT_EQ(v.duplicates, 1);
  v = verify(kCommitted, kTransactions, b + "\n" + c + "\n" + a + "\n", {}, partitions);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.key_order_violations, 1);
  v = verify(kCommitted, kTransactions, b + "\n" + c + "\n", {}, partitions);
  EXPECT_EQ(v.lost, 1);
}

TEST(CrashVerify, InconsistentGroundTruthIsCaught) {
  std::vector<Committed> gap = kCommitted;
  gap[2].key_seq = 3;  // k0 #2 missing
  const auto v = verify(gap, kTransactions, a + "\n" + b + "\n" + line(gap[2]) + "\n");
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.ground_truth_errors, 1);
}

}  // namespace

// The SQLite tail's re-checks after a WAL write, as logic: no clock, no file. How late a commit
// whose fsync is slow can be read is bounded by the longest pause, and a write during the pauses
// starts them again; both were found by latency benchmarks (docs/benchmarks.md, "A commit during
// the SQLite tail's re-check pauses") and are held here without timing anything.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "store/sqlite/recheck_schedule.hpp"

namespace {

using outbox::sqlite::detail::RecheckSchedule;
using std::chrono::microseconds;

constexpr microseconds kIdle{1'000'000};  // the store's default re-check interval, 1 s

// The pauses the tail would take after one WAL write, with no further write, until it goes back
// to waiting for the next one.
std::vector<microseconds> pauses_after_one_write(RecheckSchedule& s) {
  std::vector<microseconds> pauses;
  s.waited(true);
  while (s.rechecking() && pauses.size() < 10'000) {
    pauses.push_back(s.next_wait(kIdle));
    s.waited(false);
  }
  return pauses;
}

TEST(SqliteRecheckSchedule, WithoutAWriteTheTailWaitsForOneUpToTheIdleInterval) {
  RecheckSchedule s;
  EXPECT_FALSE(s.rechecking());
  EXPECT_EQ(s.next_wait(kIdle), kIdle);
  s.waited(false);  // the idle interval passed with no write
  EXPECT_FALSE(s.rechecking());
  EXPECT_EQ(s.next_wait(kIdle), kIdle);
}

TEST(SqliteRecheckSchedule, AfterAWriteThePausesGrowFromFiftyMicrosecondsAndNeverExceedTwoMilliseconds) {
  RecheckSchedule s;
  const auto pauses = pauses_after_one_write(s);
  ASSERT_FALSE(pauses.empty());
  EXPECT_EQ(pauses.front(), microseconds(50));
  microseconds total{0};
  for (std::size_t i = 0; i < pauses.size(); ++i) {
    EXPECT_LE(pauses[i], microseconds(2000)) << "pause " << i;
    if (i > 0) EXPECT_GE(pauses[i], pauses[i - 1]) << "pause " << i;
    total += pauses[i];
  }
  // Long enough to see a commit whose fsync takes tens of milliseconds.
  EXPECT_GE(total, microseconds(80'000));
  EXPECT_LE(total, microseconds(100'000));
  // Then back to waiting for the next write.
  EXPECT_FALSE(s.rechecking());
  EXPECT_EQ(s.next_wait(kIdle), kIdle);
}

TEST(SqliteRecheckSchedule, AWriteDuringThePausesStartsTheShortPausesAgain) {
  RecheckSchedule s;
  s.waited(true);
  for (int i = 0; i < 20; ++i) s.waited(false);  // well into the 2 ms pauses
  ASSERT_TRUE(s.rechecking());
  ASSERT_EQ(s.next_wait(kIdle), microseconds(2000));
  s.waited(true);  // e.g. the commit of a message, after a write that added none
  EXPECT_EQ(s.next_wait(kIdle), microseconds(50));
  // And the full schedule again from there.
  RecheckSchedule fresh;
  RecheckSchedule again = s;
  std::vector<microseconds> rest;
  while (again.rechecking()) {
    rest.push_back(again.next_wait(kIdle));
    again.waited(false);
  }
  EXPECT_EQ(rest, pauses_after_one_write(fresh));
}

TEST(SqliteRecheckSchedule, MessagesFoundEndTheRechecks) {
  RecheckSchedule s;
  s.waited(true);
  s.waited(false);
  ASSERT_TRUE(s.rechecking());
  s.found_messages();
  EXPECT_FALSE(s.rechecking());
  EXPECT_EQ(s.next_wait(kIdle), kIdle);
}

}  // namespace

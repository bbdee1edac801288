// The metrics endpoint answers from the status sampler's last reading, so scrapes cost the store
// nothing: however often they come, the store is read at the sampler's own pace.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cli/status_sampler.hpp"
#include "outbox/errors.hpp"

using namespace std::chrono_literals;
using outbox::OutboxStatus;
using outbox::cli::StatusSampler;

TEST(StatusSampler, ScrapesDoNotReadTheStore) {
  std::atomic<int> reads{0};
  StatusSampler sampler(
      [&] {
        OutboxStatus st;
        st.name = "orders";
        st.count = ++reads;
        return st;
      },
      std::chrono::hours(1));
  for (int i = 0; i < 10'000; ++i) EXPECT_EQ(sampler.latest(5s).status.count, 1);
  EXPECT_EQ(reads.load(), 1) << "10,000 scrapes read the store " << reads.load() << " times";
}

TEST(StatusSampler, ASlowReadingIsFollowedByAPauseNineTimesAsLong) {
  // Readings that take 20 ms with a 1 ms minimum interval: at most one in ten milliseconds goes to
  // the store. Counted over 600 ms, that is 3 readings (at 0, ~200 and ~400 ms), never one per
  // scrape or one per interval (30).
  std::atomic<int> reads{0};
  StatusSampler sampler(
      [&] {
        ++reads;
        std::this_thread::sleep_for(20ms);
        return OutboxStatus{};
      },
      1ms);
  const auto until = std::chrono::steady_clock::now() + 600ms;
  while (std::chrono::steady_clock::now() < until) sampler.latest(5s);
  EXPECT_GE(reads.load(), 1);
  EXPECT_LE(reads.load(), 6) << "the store was read " << reads.load() << " times in 600 ms";
}

TEST(StatusSampler, AFailedFirstReadingIsReportedAndALaterOneRecovers) {
  std::atomic<int> reads{0};
  StatusSampler sampler(
      [&] {
        if (++reads == 1) throw outbox::StoreError("database is locked", true);
        OutboxStatus st;
        st.count = 42;
        return st;
      },
      10ms);
  bool recovered = false;
  std::string first_error;
  for (int i = 0; i < 500 && !recovered; ++i) {
    try {
      recovered = sampler.latest(5s).status.count == 42;
    } catch (const outbox::StoreError& e) {
      if (first_error.empty()) first_error = e.what();
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(recovered);
  if (!first_error.empty()) EXPECT_NE(first_error.find("database is locked"), std::string::npos) << first_error;
}

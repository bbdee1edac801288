#include "tail.hpp"

#include <algorithm>

#include "tables.hpp"

namespace outbox::sqlite::detail {

namespace {

// The tail's page cache, in KiB (SQLite's default is 2,000). A tail reads each page once, moving
// forward, and SQLite empties a connection's cache whenever another one committed since its last
// read, which a tail's writers do all the time: a bigger cache is memory a relay holds for nothing
// (about 2 MB of its resident size, measured in docs/benchmarks.md).
constexpr int kTailCacheKiB = 256;

// A batch's vector is reserved, once its first row is read, as large as the last batch was, and
// at most this large. Growing it one doubling at a time moved every message read so far up to ten
// times per batch of 1,000; reserving batch_size up front would take that memory for each
// one-message batch of a quiet outbox, and for every empty poll.
constexpr std::size_t kMaxReserve = 1024;

}  // namespace

SqliteTail::SqliteTail(const std::string& path, int busy_timeout_ms, const std::string& outbox, std::int64_t after,
                       const TailOptions& options)
    : outbox_(outbox),
      options_(options),
      connection_(path, SQLITE_OPEN_READWRITE, busy_timeout_ms),
      select_(connection_.get(),
              std::string("SELECT ") + kMessageColumns + " FROM " + message_table(outbox) +
                  " WHERE position > ?1 ORDER BY position LIMIT ?2",
              true),
      watcher_(path),
      after_(after) {
  connection_.exec("PRAGMA cache_size=-" + std::to_string(kTailCacheKiB));
}

std::vector<Message> SqliteTail::read() {
  std::vector<Message> batch;
  select_.bind(1, after_).bind(2, static_cast<std::int64_t>(options_.batch_size));
  try {
    while (select_.step()) {
      if (batch.empty()) batch.reserve(expected_batch_);
      batch.push_back(read_message(select_, outbox_, options_.parse_data));
    }
  } catch (...) {
    select_.reset();
    throw;
  }
  select_.reset();
  if (!batch.empty()) {
    after_ = batch.back().position;
    expected_batch_ = std::min(batch.size(), kMaxReserve);
  }
  return batch;
}

std::vector<Message> SqliteTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!closed_.load()) {
    watcher_.drain();
    auto batch = read();
    if (!batch.empty()) {
      schedule_.found_messages();
      return batch;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // After a WAL write, short re-checks until its commit is visible (recheck_schedule.hpp). The
    // schedule outlives this call: a wait cut short by the deadline goes on re-checking in the next.
    const auto pause = std::min<std::chrono::microseconds>(left, schedule_.next_wait(options_.recheck_interval));
    schedule_.waited(watcher_.wait(pause));
  }
  return {};
}

void SqliteTail::close() {
  closed_.store(true);
  watcher_.interrupt();
}

}  // namespace outbox::sqlite::detail

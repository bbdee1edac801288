#include "tail.hpp"

#include <algorithm>
#include <array>
#include <thread>

#include "tables.hpp"

namespace outbox::sqlite::detail {

namespace {
using std::chrono::microseconds;
// The re-check pauses after a WAL write: 50 µs, doubling up to 2 ms, then 2 ms each, about 90 ms in
// all. A commit becomes visible when the writer's fsync ends, with no event of its own, so a pause
// is how late a slow fsync's commit can be read; pauses of up to 50 ms made commits whose fsync
// took a few ms (a disk busy with retention's deletes) wait up to 50 ms.
constexpr std::array<microseconds, 49> kSettle = [] {
  std::array<microseconds, 49> pauses{};
  microseconds pause(50);
  for (auto& p : pauses) {
    p = pause;
    pause = std::min(2 * pause, microseconds(2000));
  }
  return pauses;
}();
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
      after_(after) {}

std::vector<Message> SqliteTail::read() {
  std::vector<Message> batch;
  select_.bind(1, after_).bind(2, static_cast<std::int64_t>(options_.batch_size));
  try {
    while (select_.step()) batch.push_back(read_message(select_, outbox_, options_.parse_data));
  } catch (...) {
    select_.reset();
    throw;
  }
  select_.reset();
  if (!batch.empty()) after_ = batch.back().position;
  return batch;
}

std::vector<Message> SqliteTail::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!closed_.load()) {
    watcher_.drain();
    auto batch = read();
    if (!batch.empty()) {
      settle_step_ = kNotSettling;
      return batch;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (settle_step_ == kNotSettling) {
      if (watcher_.wait(std::min<std::chrono::microseconds>(left, options_.recheck_interval))) settle_step_ = 0;
      continue;
    }
    // Woken by a WAL write: the commit becomes visible once the writer's fsync and index update
    // finish. Re-check at growing pauses (about 90 ms in all) rather than wait for an event that
    // will not come. A further WAL write ends a pause and starts the short pauses again: it may be
    // the commit of a message (the write that woke the tail may have added none: the business
    // table alone, or this relay's own checkpoint save or retention round), and sleeping through it
    // delayed that message by the rest of a pause of up to 50 ms. The state outlives this call: a
    // wait cut short by the deadline goes on re-checking in the next one.
    const bool written = watcher_.wait(std::min<std::chrono::microseconds>(left, kSettle[settle_step_]));
    if (written) {
      settle_step_ = 0;
    } else if (++settle_step_ == kSettle.size()) {
      settle_step_ = kNotSettling;  // nothing came of it: wait for the next write
    }
  }
  return {};
}

void SqliteTail::close() {
  closed_.store(true);
  watcher_.interrupt();
}

}  // namespace outbox::sqlite::detail

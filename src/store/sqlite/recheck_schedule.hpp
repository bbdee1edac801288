// When the SQLite tail looks at the database again. A commit becomes visible when the writer's
// fsync ends, with no event of its own: inotify only sees the WAL write before it. So after a WAL
// write the tail re-checks at short, growing pauses for a while; otherwise it sleeps until the
// next write (or the idle re-check interval). Kept apart from the tail so that the schedule is
// tested as logic, without clocks or files (tests/unit/sqlite_recheck_schedule_test.cpp).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace outbox::sqlite::detail {

class RecheckSchedule {
 public:
  using microseconds = std::chrono::microseconds;

  // The pauses after a WAL write: 50 µs, doubling up to kLongestPause, then kLongestPause each,
  // about 90 ms in all. The longest pause is how late a commit with a slow fsync can be read:
  // pauses of up to 50 ms made commits whose fsync took a few ms wait up to 50 ms.
  static constexpr microseconds kFirstPause{50};
  static constexpr microseconds kLongestPause{2000};
  static constexpr std::size_t kPauses = 49;

  // How long the tail may wait for a WAL write now: the current pause while re-checking after a
  // write, else `idle` (the store's re-check interval). The caller also caps it by its deadline.
  microseconds next_wait(microseconds idle) const;

  // The wait ended, by a WAL write (`written`) or by its timeout. A write starts the short pauses
  // again, also one during a pause: it may be a message's commit (the write that started the
  // pauses may have added none: a business table alone, the relay's own checkpoint save or
  // retention round), and sleeping through it delayed that message by the rest of a long pause.
  // After the last pause with no write the tail waits for the next write.
  void waited(bool written);

  // A read found messages: nothing is pending, wait for the next write.
  void found_messages() { step_ = kNotSettling; }

  bool rechecking() const { return step_ != kNotSettling; }

 private:
  static constexpr std::size_t kNotSettling = ~std::size_t{0};
  static const std::array<microseconds, kPauses> kSchedule;
  std::size_t step_ = kNotSettling;
};

}  // namespace outbox::sqlite::detail

// Makes the relay's own writes to its store off the delivery thread: checkpoint saves (which also
// renew its lease) and retention rounds.
//
// Both are write transactions: on SQLite each waits for the write lock while a busy writer holds it
// (hundreds of ms), and while the relay thread waited in one, nothing was read, published or
// acknowledged; saves were the slowest 1% of commit -> acknowledged latencies. The relay now posts
// them and goes on; one thread of this class writes them, one at a time (the store serialises its
// writes anyway).
//
// Checkpoint posts coalesce: only the newest one not yet started is written, which is all a
// checkpoint needs (each covers the ones before it). The relay posts checkpoints in order and a
// newer post replaces an older pending one, so saves are written in the order posted: never one
// older than one already written. Retention posts coalesce too: a round asked for while one waits
// is the same round. Retention deletes only what the saved checkpoints passed, so it needs no order
// with the saves.
//
// What a background write ended with is handed back to the relay thread by take(): the count and
// last position of the saves that succeeded, what retention deleted, and the first exception of a
// write that failed (the relay rethrows it there, so LeaseLost and StoreError are handled exactly
// as when it wrote itself). After a failure the pending save is dropped: the relay posts again once
// it handled the error; a failed retention round waits for the next one the relay asks for.
//
// Dead letters are not written here: one comes only after its message failed max_attempts times,
// each failure followed by a backoff during which delivery waited anyway, and its record must be
// made before any checkpoint that passes the message is saved.
//
// Where the relay must know a write's outcome before it goes on (an overdue lease renewal, the
// final save on the way out, a drain's last retention round) it calls save_now() or retain_now(),
// which wait for the writer and write on the calling thread. With `background` false (a store whose
// writes are not safe beside its tail; see Store::concurrent_relay_writes) post() and
// post_retention() too write on the calling thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "outbox/store.hpp"

namespace outbox::detail {

class RelayWriter {
 public:
  using Clock = std::chrono::steady_clock;
  // Writes one checkpoint with the relay's health (the relay's Store::save_checkpoint call).
  using SaveFn = std::function<void(const std::string& checkpoint, const std::string& health)>;
  // Runs one retention round (the relay's Store::enforce_retention call).
  using RetainFn = std::function<RetentionResult()>;

  // What finished since the last take().
  struct Outcome {
    std::int64_t saved = 0;                       // saves that succeeded
    std::optional<std::int64_t> last_position;    // of the newest one of them
    std::optional<Clock::time_point> last_start;  // when it began (the lease runs from about then)
    RetentionResult retained;                     // summed over the retention rounds that succeeded
    std::exception_ptr error;                     // the first write that failed, if any
  };

  RelayWriter(SaveFn save, RetainFn retain, bool background);
  // Lets a running write finish and drops pending ones (the relay saved what it must already).
  ~RelayWriter();
  RelayWriter(const RelayWriter&) = delete;
  RelayWriter& operator=(const RelayWriter&) = delete;

  // Asks for `checkpoint` (the resolved prefix through `position`) to be saved. In the background:
  // returns at once, replacing a pending save that has not started. Otherwise saves now and
  // throws what the save throws.
  void post(std::string checkpoint, std::int64_t position, std::string health);

  // Waits until nothing is pending or running, then saves on this thread; throws what the save
  // throws. An error of an earlier background write is dropped: this newer save's outcome is the
  // one that counts (a lost lease fails it as well).
  void save_now(const std::string& checkpoint, std::int64_t position, const std::string& health);

  // Asks for a retention round. In the background: returns at once (a round already pending is
  // this one). Otherwise runs it now and throws what it throws.
  void post_retention();

  // Waits until nothing is pending or running, then runs a retention round on this thread; throws
  // what it throws.
  void retain_now();

  // Blocks until nothing is pending or running.
  void wait_idle();

  // Takes what finished since the last call (the relay thread, each turn).
  Outcome take();

 private:
  struct SaveRequest {
    std::string checkpoint;
    std::int64_t position = 0;
    std::string health;
  };

  void loop();
  void save_here(const std::string& checkpoint, std::int64_t position, const std::string& health);
  void retain_here();
  void record_save(std::int64_t position, Clock::time_point started);  // with mutex_ held
  void record_retention(const RetentionResult& r);                     // with mutex_ held

  SaveFn save_;
  RetainFn retain_;
  std::mutex mutex_;
  std::condition_variable wake_;  // a post, or the end
  std::condition_variable idle_;  // a write finished
  std::optional<SaveRequest> pending_save_;
  bool pending_retention_ = false;
  bool running_ = false;  // the thread is inside save_ or retain_
  bool ending_ = false;
  Outcome outcome_;
  std::thread thread_;  // not started when writing on the caller's thread; last member: starts last
};

}  // namespace outbox::detail

// Saves the relay's checkpoints (which also renew its lease) off the delivery thread.
//
// A save is a write transaction: on SQLite it waits for the write lock while a busy writer holds
// it (hundreds of ms), and while the relay thread waited in it nothing was read, published or
// acknowledged; that was the slowest 1% of commit -> acknowledged latencies. The relay now posts
// (checkpoint, health) and goes on; one thread of this class writes it. Posts coalesce: only the
// newest one not yet started is written, which is all a checkpoint needs (each covers the ones
// before it). The relay posts checkpoints in order and a newer post replaces an older pending
// one, so saves are written in the order posted: never one older than one already written.
//
// What a background save ended with is handed back to the relay thread by take(): the count and
// last position of the saves that succeeded, and the first exception of one that failed (the
// relay rethrows it there, so LeaseLost and StoreError are handled exactly as when it saved
// itself). After a failure the pending save is dropped: the relay posts again once it handled
// the error.
//
// Where the relay must know a save's outcome before it goes on (an overdue lease renewal, the
// final save on the way out) it calls save_now(), which waits for the saver and saves on the
// calling thread. With `background` false (a store whose save_checkpoint is not safe beside its
// tail; see Store::concurrent_checkpoint_saves) post() too saves on the calling thread.
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

namespace outbox::detail {

class CheckpointSaver {
 public:
  using Clock = std::chrono::steady_clock;
  // Writes one checkpoint with the relay's health (the relay's Store::save_checkpoint call).
  using SaveFn = std::function<void(const std::string& checkpoint, const std::string& health)>;

  // What finished since the last take().
  struct Outcome {
    std::int64_t saved = 0;                       // saves that succeeded
    std::optional<std::int64_t> last_position;    // of the newest one of them
    std::optional<Clock::time_point> last_start;  // when it began (the lease runs from about then)
    std::exception_ptr error;                     // the first save that failed, if any
  };

  CheckpointSaver(SaveFn save, bool background);
  // Lets a running save finish and drops a pending one (the relay saved what it must already).
  ~CheckpointSaver();
  CheckpointSaver(const CheckpointSaver&) = delete;
  CheckpointSaver& operator=(const CheckpointSaver&) = delete;

  // Asks for `checkpoint` (the resolved prefix through `position`) to be saved. In the background:
  // returns at once, replacing a pending save that has not started. Otherwise saves now and
  // throws what the save throws.
  void post(std::string checkpoint, std::int64_t position, std::string health);

  // Waits until nothing is pending or running, then saves on this thread; throws what the save
  // throws. An error of an earlier background save is dropped: this newer save's outcome is the
  // one that counts (a lost lease fails it as well).
  void save_now(const std::string& checkpoint, std::int64_t position, const std::string& health);

  // Blocks until nothing is pending or running.
  void wait_idle();

  // Takes what finished since the last call (the relay thread, each turn).
  Outcome take();

 private:
  struct Request {
    std::string checkpoint;
    std::int64_t position = 0;
    std::string health;
  };

  void loop();
  void record_success(std::int64_t position, Clock::time_point started);  // with mutex_ held

  SaveFn save_;
  std::mutex mutex_;
  std::condition_variable wake_;  // a post, or the end
  std::condition_variable idle_;  // a save finished
  std::optional<Request> pending_;
  bool running_ = false;  // the thread is inside save_
  bool ending_ = false;
  Outcome outcome_;
  std::thread thread_;  // not started when saving on the caller's thread; last member: starts last
};

}  // namespace outbox::detail

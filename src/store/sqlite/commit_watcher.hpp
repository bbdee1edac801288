// Wakes a reader when any process commits to an SQLite database in WAL mode. Every commit appends
// to the `-wal` file, so inotify on the database's folder (which also sees the WAL file being
// recreated) gives a cross-process wake-up with no polling and no cooperation from writers.
#pragma once

#include <chrono>
#include <string>

namespace outbox::sqlite::detail {

class CommitWatcher {
 public:
  explicit CommitWatcher(const std::string& database_path);
  ~CommitWatcher();
  CommitWatcher(const CommitWatcher&) = delete;
  CommitWatcher& operator=(const CommitWatcher&) = delete;

  // Forgets the wake-ups received so far; call before checking the database, so that a commit
  // landing after the check still wakes the next wait().
  void drain();
  // Waits until a commit may have happened, interrupt() is called, or `timeout` passes. Returns
  // true when woken by a write to the WAL. That write may precede the commit becoming visible by
  // an fsync: the WAL frames are written first, then synced, then published in the shared-memory
  // index, which mmap-based updates keep invisible to inotify. Callers re-check briefly.
  bool wait(std::chrono::microseconds timeout);
  // Safe from any thread.
  void interrupt();

 private:
  int inotify_fd_ = -1;
  int event_fd_ = -1;
  std::string wal_name_;
};

}  // namespace outbox::sqlite::detail

#include "commit_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "outbox/errors.hpp"

namespace outbox::sqlite::detail {

CommitWatcher::CommitWatcher(const std::string& database_path) {
  const std::filesystem::path path = std::filesystem::absolute(database_path);
  wal_name_ = path.filename().string() + "-wal";
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || event_fd_ < 0 ||
      inotify_add_watch(inotify_fd_, path.parent_path().c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
    const std::string reason = std::strerror(errno);
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    if (event_fd_ >= 0) ::close(event_fd_);
    throw StoreError("sqlite: cannot watch '" + path.parent_path().string() + "' for commits: " + reason +
                         " (raise fs.inotify.max_user_watches / max_user_instances if exhausted)",
                     false);
  }
}

CommitWatcher::~CommitWatcher() {
  ::close(inotify_fd_);
  ::close(event_fd_);
}

void CommitWatcher::drain() {
  alignas(inotify_event) char buf[4096];
  while (::read(inotify_fd_, buf, sizeof buf) > 0) {
  }
}

bool CommitWatcher::wait(std::chrono::microseconds timeout) {
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    // ppoll, not poll: the tail's re-check pauses are tens of microseconds.
    const timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                      static_cast<long>(left.count() % 1'000'000'000)};
    const int n = ::ppoll(fds, 2, &ts, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || (fds[1].revents & POLLIN)) return false;
    // Only writes to this database's WAL count; the folder may hold other busy files.
    alignas(inotify_event) char buf[4096];
    ssize_t len;
    while ((len = ::read(inotify_fd_, buf, sizeof buf)) > 0) {
      for (char* p = buf; p < buf + len;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->len > 0 && wal_name_ == ev->name) return true;
        p += sizeof(inotify_event) + ev->len;
      }
    }
  }
}

void CommitWatcher::interrupt() {
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof one);
}

}  // namespace outbox::sqlite::detail

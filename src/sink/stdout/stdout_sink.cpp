#include "stdout_sink.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

namespace outbox::sinks {

namespace {

constexpr const char* kReaderGone =
    "stdout was closed by its reader (EPIPE): the program reading the relay's output has exited";
// How often a write waiting for the reader looks at the give-up time.
constexpr int kPollStepMs = 50;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StdoutSink::StdoutSink(int fd) : fd_(fd) {
  struct stat st {};
  const bool pipe_or_socket = fstat(fd_, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  if (!pipe_or_socket) return;  // a file or terminal has no reader to lose
  stop_watching_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_watching_fd_ < 0) return;  // no watcher: a gone reader is still seen at the next write
  watcher_ = std::thread([this] { watch_reader(); });
}

StdoutSink::~StdoutSink() {
  if (watcher_.joinable()) {
    const std::uint64_t one = 1;
    (void)!write(stop_watching_fd_, &one, sizeof one);
    watcher_.join();
  }
  if (stop_watching_fd_ >= 0) close(stop_watching_fd_);
}

void StdoutSink::watch_reader() {
  // Asking for no event on stdout still reports POLLERR (a pipe whose read end is closed) and
  // POLLHUP (a socket the peer shut down), without writing anything.
  pollfd fds[2] = {{fd_, 0, 0}, {stop_watching_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;  // cannot watch: a gone reader is still seen at the next write
    }
    if (fds[1].revents != 0 || (fds[0].revents & POLLNVAL) != 0) return;
    if ((fds[0].revents & (POLLERR | POLLHUP)) != 0) {
      reader_gone_ = true;
      closed(kReaderGone);
      return;
    }
  }
}

std::string StdoutSink::health() const { return reader_gone_ ? kReaderGone : "ok"; }

void StdoutSink::do_stop_within(std::chrono::milliseconds grace) {
  const std::int64_t at = steady_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(grace).count();
  std::int64_t expected = 0;
  give_up_at_.compare_exchange_strong(expected, std::max<std::int64_t>(at, 1));  // the first stop counts
}

std::size_t StdoutSink::write_all(std::string_view data, std::string& error) {
  struct stat st {};
  const bool regular = fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  const bool socket = !regular && S_ISSOCK(st.st_mode);
  std::size_t done = 0;
  while (done < data.size()) {
    if (!regular) {
      // Wait until the reader has made room. A pipe that polls writable takes PIPE_BUF bytes
      // without blocking, so the write below never blocks for long either.
      const std::int64_t give_up_at = give_up_at_.load();
      int wait = kPollStepMs;
      if (give_up_at != 0) {
        const std::int64_t left_ms = (give_up_at - steady_ns()) / 1'000'000;
        wait = static_cast<int>(std::clamp<std::int64_t>(left_ms, 0, kPollStepMs));
      }
      pollfd p{fd_, POLLOUT, 0};
      const int r = ::poll(&p, 1, wait);
      if (r < 0 && errno != EINTR) {
        error = std::string("waiting to write to stdout failed: ") + std::strerror(errno);
        return done;
      }
      if (r <= 0 || !(p.revents & (POLLOUT | POLLERR | POLLHUP))) {
        if (give_up_at != 0 && steady_ns() >= give_up_at) {
          error = "stdout's reader took in nothing until the shutdown timeout; the rest is published again on restart";
          return done;
        }
        continue;
      }
    }
    const std::size_t chunk = regular ? data.size() - done : std::min<std::size_t>(data.size() - done, PIPE_BUF);
    const ssize_t n = socket ? send(fd_, data.data() + done, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
                             : write(fd_, data.data() + done, chunk);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0 && errno == EPIPE) {
      error = kReaderGone;
      reader_gone_ = true;
      return done;
    }
    error = std::string("writing to stdout failed: ") + (n < 0 ? std::strerror(errno) : "nothing written");
    return done;
  }
  return done;
}

void StdoutSink::do_publish(std::span<const Message> batch) {
  if (reader_gone_) {
    for (const auto& m : batch) report(m.position, Outcome::retryable, kReaderGone);
    return;
  }
  std::string buffer;
  std::vector<std::size_t> ends;  // where each message's line ends in `buffer`
  ends.reserve(batch.size());
  for (const auto& m : batch) {
    buffer += to_json_line(m);
    buffer += '\n';
    ends.push_back(buffer.size());
  }
  std::string error;
  const std::size_t written = write_all(buffer, error);
  // Messages whose whole line was written are delivered; the rest are retried in order (a
  // partly written line is then written again in full, after the torn one).
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (ends[i] <= written)
      report(batch[i].position, Outcome::ok);
    else
      report(batch[i].position, Outcome::retryable, error);
  }
  if (written < buffer.size() && reader_gone_) closed(kReaderGone);
}

}  // namespace outbox::sinks

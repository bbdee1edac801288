#include "file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "outbox/errors.hpp"

namespace outbox::sinks {

FileSink::FileSink(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw SinkError("cannot open file sink '" + path_ + "': " + std::strerror(errno) +
                        "; check that the folder exists and is writable",
                    false);
  }
  drop_torn_tail();
}

// A relay killed in the middle of a write leaves part of a line. Those bytes were never
// acknowledged, so they are published again; cutting them off keeps every line whole.
void FileSink::drop_torn_tail() {
  const off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size <= 0) return;
  char c = 0;
  if (::pread(fd_, &c, 1, size - 1) != 1 || c == '\n') return;
  off_t end = size;
  char buf[4096];
  while (end > 0) {
    const off_t start = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    const ssize_t n = ::pread(fd_, buf, static_cast<std::size_t>(end - start), start);
    if (n <= 0) return;
    for (ssize_t i = n - 1; i >= 0; --i) {
      if (buf[i] == '\n') {
        if (::ftruncate(fd_, start + i + 1) != 0) return;
        return;
      }
    }
    end = start;
  }
  [[maybe_unused]] int rc = ::ftruncate(fd_, 0);  // no complete line at all
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::do_publish(std::span<const Message> batch) {
  std::string buffer;
  buffer.reserve(batch.size() * 256);
  for (const auto& m : batch) {
    buffer += to_json_line(m);
    buffer += '\n';
  }
  std::string error;
  const char* p = buffer.data();
  std::size_t left = buffer.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "write to '" + path_ + "' failed: " + std::strerror(errno);
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (error.empty() && ::fdatasync(fd_) != 0) {
    error = "fdatasync of '" + path_ + "' failed: " + std::strerror(errno);
  }
  // On failure the batch is retried whole; lines that did reach the file become duplicates, which
  // at-least-once delivery allows (consumers dedupe by id).
  for (const auto& m : batch) {
    report(m.position, error.empty() ? Outcome::ok : Outcome::retryable, error);
  }
}

}  // namespace outbox::sinks

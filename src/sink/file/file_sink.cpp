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

namespace {
std::string advice(int err) {
  if (err == ENOSPC || err == EDQUOT) return "; free space on its disk, the relay retries";
  if (err == EFBIG)
    return "; the file reached the size limit (ulimit -f or the file system's), rotate it or raise the limit, the "
           "relay retries";
  return "; the relay retries";
}
}  // namespace

// Writes `buffer` at the end of the file and makes it durable. On failure cuts the file back to
// `start` (where the batch began) and returns the error; "" on success.
std::string FileSink::append(const std::string& buffer, off_t start) {
  std::string error;
  const char* p = buffer.data();
  std::size_t left = buffer.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      error = "write to '" + path_ + "' failed: " + std::strerror(err) + advice(err);
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (error.empty() && ::fdatasync(fd_) != 0) {
    const int err = errno;
    error = "fdatasync of '" + path_ + "' failed: " + std::strerror(err) + advice(err);
  }
  if (!error.empty() && ::ftruncate(fd_, start) != 0) cut_to_ = start;  // cut before the next write
  return error;
}

void FileSink::do_publish(std::span<const Message> batch) {
  std::string buffer;
  buffer.reserve(batch.size() * 256);
  for (const auto& m : batch) {
    buffer += to_json_line(m);
    buffer += '\n';
  }
  // A failed write must leave nothing of its batch behind: the batch is retried whole, and a part
  // line left in place would be glued to the retried copy, one unparseable line that may hold a
  // message's only copy (batch size 1). Cut back to where the batch began; if even that fails
  // (the disk is gone), cut before anything else is written.
  std::string error;
  if (cut_to_ && ::ftruncate(fd_, *cut_to_) == 0) cut_to_.reset();
  if (cut_to_) {
    error = "cannot cut the part line a failed write left at the end of '" + path_ + "': " + std::strerror(errno) +
            "; check the file system, the relay retries";
  } else {
    const off_t start = ::lseek(fd_, 0, SEEK_END);
    if (start < 0) {
      error = "cannot find the end of '" + path_ + "': " + std::strerror(errno) + "; the relay retries";
    } else {
      error = append(buffer, start);
    }
  }
  for (const auto& m : batch) {
    report(m.position, error.empty() ? Outcome::ok : Outcome::retryable, error);
  }
}

}  // namespace outbox::sinks

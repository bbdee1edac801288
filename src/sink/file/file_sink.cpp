#include "file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "outbox/errors.hpp"

namespace outbox::sinks {

FileSink::FileSink(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw SinkError("cannot open file sink '" + path_ + "': " + std::strerror(errno) +
                        "; check that the folder exists and is writable",
                    false);
  }
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

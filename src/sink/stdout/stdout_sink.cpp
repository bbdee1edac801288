#include "stdout_sink.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace outbox::sinks {

void StdoutSink::do_publish(std::span<const Message> batch) {
  std::string buffer;
  for (const auto& m : batch) {
    buffer += to_json_line(m);
    buffer += '\n';
  }
  const bool ok = std::fwrite(buffer.data(), 1, buffer.size(), stdout) == buffer.size() &&
                  std::fflush(stdout) == 0;
  const std::string error = ok ? "" : std::string("writing to stdout failed: ") + std::strerror(errno);
  // A failed write may have written part of the batch, so the whole batch is retried in order.
  for (const auto& m : batch) report(m.position, ok ? Outcome::ok : Outcome::retryable, error);
}

}  // namespace outbox::sinks

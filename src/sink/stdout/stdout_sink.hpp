// `stdout:` - JSON lines on standard output, each message acknowledged once its line is written.
// Standard output is usually a pipe to another program, which may stall or exit:
//  - a write never blocks for long: it waits for the pipe with poll() in short steps and writes
//    what fits, so a stop (give_up_writing_after) is honoured while the reader stalls;
//  - when the reader has exited (EPIPE; the process ignores SIGPIPE), the lines not written are
//    reported retryable, nothing more is written, and the sink reports itself closed (Sink::on_closed)
//    so that the program can end the relay in order (checkpoint saved, lease released).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "outbox/sink.hpp"

namespace outbox::sinks {

class StdoutSink final : public Sink {
 public:
  explicit StdoutSink(int fd = 1) : fd_(fd) {}

  std::string describe() const override { return "stdout"; }
  std::string health() const override;

 protected:
  void do_publish(std::span<const Message> batch) override;
  // A write that is still waiting for the reader `grace` from now gives up.
  void do_stop_within(std::chrono::milliseconds grace) override;

 private:
  // Writes all of `data`; returns how much was written and sets `error` when not all of it.
  std::size_t write_all(std::string_view data, std::string& error);

  const int fd_;
  std::atomic<bool> reader_gone_{false};
  // steady_clock time (ns since its epoch) after which a waiting write gives up; 0: never.
  std::atomic<std::int64_t> give_up_at_{0};
};

}  // namespace outbox::sinks

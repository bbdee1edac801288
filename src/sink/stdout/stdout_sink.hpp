// `stdout:` - JSON lines on standard output, each message acknowledged once its line is written.
// Standard output is usually a pipe to another program, which may stall or exit:
//  - a write never blocks for long: it waits for the pipe with poll() in short steps and writes
//    what fits, so a stop (give_up_writing_after) is honoured while the reader stalls;
//  - when the reader has exited (EPIPE; the process ignores SIGPIPE), the lines not written are
//    reported retryable, nothing more is written, and the sink reports itself closed (Sink::on_closed)
//    so that the program can end the relay in order (checkpoint saved, lease released);
//  - a reader that exits while nothing is being written (an idle outbox) is noticed too: for a pipe
//    or socket a thread waits for the reader to go (poll() reports it without any write) and then
//    reports the sink closed the same way.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "outbox/sink.hpp"

namespace outbox::sinks {

class StdoutSink final : public Sink {
 public:
  explicit StdoutSink(int fd = 1);
  ~StdoutSink() override;
  StdoutSink(const StdoutSink&) = delete;
  StdoutSink& operator=(const StdoutSink&) = delete;

  std::string describe() const override { return "stdout"; }
  std::string health() const override;

 protected:
  void do_publish(std::span<const Message> batch) override;
  // A write that is still waiting for the reader `grace` from now gives up.
  void do_stop_within(std::chrono::milliseconds grace) override;

 private:
  // Writes all of `data`; returns how much was written and sets `error` when not all of it.
  std::size_t write_all(std::string_view data, std::string& error);

  // Waits until the reader of a pipe or socket has gone, or until the sink is destroyed.
  void watch_reader();

  const int fd_;
  int stop_watching_fd_ = -1;  // eventfd: written by the destructor to end watch_reader()
  std::thread watcher_;
  std::atomic<bool> reader_gone_{false};
  // steady_clock time (ns since its epoch) after which a waiting write gives up; 0: never.
  std::atomic<std::int64_t> give_up_at_{0};
};

}  // namespace outbox::sinks

// The stdout sink's reader, as logic over a real pipe (no process): a reader that goes while
// nothing is written is noticed without a write, and Sink::on_closed is told once, also when it
// was set after the reader went. The process-level behaviour (`outbox relay --sink stdout: | jq`)
// is in tests/integration/cli/cli_stdout_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "sink/stdout/stdout_sink.hpp"

namespace {

using namespace std::chrono_literals;

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
      read = p[0];
      write = p[1];
    }
  }
  ~Pipe() {
    if (read >= 0) close(read);
    if (write >= 0) close(write);
  }
  void close_reader() {
    close(read);
    read = -1;
  }
};

// Collects on_closed calls.
struct Closures {
  std::mutex mutex;
  std::condition_variable changed;
  int calls = 0;
  std::string why;
  std::function<void(const std::string&)> callback() {
    return [this](const std::string& w) {
      std::lock_guard lock(mutex);
      ++calls;
      why = w;
      changed.notify_all();
    };
  }
  bool wait_for_one(std::chrono::seconds bound) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, bound, [&] { return calls > 0; });
  }
};

TEST(StdoutSink, AReaderThatGoesWhileNothingIsWrittenClosesTheSink) {
  Pipe pipe;
  ASSERT_GE(pipe.write, 0);
  outbox::sinks::StdoutSink sink(pipe.write);
  Closures closures;
  sink.on_closed(closures.callback());
  EXPECT_EQ(sink.health(), "ok");
  pipe.close_reader();
  ASSERT_TRUE(closures.wait_for_one(10s)) << "the reader's exit went unnoticed";
  EXPECT_NE(closures.why.find("stdout was closed"), std::string::npos) << closures.why;
  EXPECT_NE(sink.health().find("stdout was closed"), std::string::npos) << sink.health();
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(closures.mutex);
  EXPECT_EQ(closures.calls, 1);
}

TEST(StdoutSink, OnClosedSetAfterTheReaderWentIsCalledAtOnce) {
  Pipe pipe;
  ASSERT_GE(pipe.write, 0);
  outbox::sinks::StdoutSink sink(pipe.write);
  pipe.close_reader();
  // Until the sink has seen it, the callback may be registered normally and called later: either
  // way it must be called exactly once.
  for (int i = 0; i < 1000 && sink.health() == "ok"; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_NE(sink.health(), "ok");
  Closures closures;
  sink.on_closed(closures.callback());
  std::lock_guard lock(closures.mutex);
  EXPECT_EQ(closures.calls, 1) << "the destination went before on_closed was set, and nobody was told";
}

TEST(StdoutSink, ALiveReaderKeepsItOpenAndTheSinkStillEndsPromptly) {
  Pipe pipe;
  ASSERT_GE(pipe.write, 0);
  Closures closures;
  {
    outbox::sinks::StdoutSink sink(pipe.write);
    sink.on_closed(closures.callback());
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(sink.health(), "ok");
  }  // the destructor ends the watcher (a hang here fails by the test's timeout)
  std::lock_guard lock(closures.mutex);
  EXPECT_EQ(closures.calls, 0);
}

}  // namespace

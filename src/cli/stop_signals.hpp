// SIGINT/SIGTERM for the whole `outbox` process. The kernel delivers a process-directed signal to
// any thread that does not block it, so they are blocked at the very top of main(), before any
// library (librdkafka, the metrics server, a store driver) starts a thread, and one thread of ours
// receives them (signalfd). What a signal then does depends on the command:
//  - by default the process ends by that signal, as if nothing handled it: right for short
//    commands (init, put, status, ...) that hold nothing needing an orderly end (a transaction in
//    progress is rolled back by the database); otherwise a blocked signal would be ignored;
//  - a command that must stop in order (relay, tail --follow) calls hold() before it opens
//    anything and installs its Handler once the thing to stop exists; a signal that
//    came in between is delivered then, so even a SIGTERM in the first millisecond stops in order.
//    A second signal ends the process at once (the impatient operator's Ctrl-C).
#pragma once

#include <functional>
#include <mutex>
#include <thread>

namespace outbox::cli {

// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread started after it), and
// ignores SIGPIPE: a write to a closed pipe or socket then fails with EPIPE, which the code doing
// the write handles (the stdout sink ends the relay in order; `tail | head` ends quietly). Call it
// first thing in main().
void block_stop_signals();

// Ends the process as if `signal` had not been blocked or handled (its default action), so that a
// parent sees "killed by SIGINT/SIGTERM/SIGPIPE" as it would from any other program.
[[noreturn]] void die_by_signal(int signal);

class StopSignals {
 public:
  StopSignals();  // call block_stop_signals() first
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // From now on, remember a signal instead of dying by it, until a Handler is installed.
  void hold();

  // While it exists, runs `on_stop` for the first signal (on the signal thread), or at once on
  // this thread if a signal or request_stop() came while holding. Afterwards signals are logged
  // and ignored, since the command is already finishing.
  class Handler {
   public:
    Handler(StopSignals& owner, std::function<void()> on_stop);
    ~Handler();
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;

   private:
    StopSignals& owner_;
  };

  // Runs the handler from the signal thread, as a signal would (for a stop the program itself
  // decides on, e.g. the stdout sink's reader went away). Safe to call from any thread, also from
  // one holding locks the handler takes.
  void request_stop();

 private:
  enum class Mode { die, hold, handle, finishing };
  void on_signal(int sig);
  void loop();

  std::mutex mutex_;
  Mode mode_ = Mode::die;
  bool pending_ = false;    // a signal or request came while holding
  bool stopped_ = false;    // the handler ran
  bool signalled_ = false;  // a signal (not request_stop) came: a second one ends the process
  std::function<void()> handler_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: 1 = request_stop(), a large value = quit
  std::thread thread_;
};

}  // namespace outbox::cli

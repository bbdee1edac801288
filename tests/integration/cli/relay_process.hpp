// The real `outbox` process as an operator runs it: started with its stdout going where a test
// says (a file, a pipe the test reads or leaves unread), stopped by signals from outside, its
// consumer's state read back through `outbox status --json`. Shared by the CLI tests and the
// Kafka signal test.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_processes.hpp"
#include "cli_run.hpp"

namespace testing_cli {

using namespace std::chrono_literals;

// One `outbox` process. Its stdout goes to `stdout_fd` (dup'ed; -1: /dev/null), stdin comes from
// `stdin_fd` (-1: /dev/null), stderr to the file `log`. Killed (SIGKILL) if still running when
// destroyed, and with the test process (PR_SET_PDEATHSIG).
class Process {
 public:
  Process(const std::vector<std::string>& argv, std::string log, int stdout_fd = -1, int stdin_fd = -1)
      : log_(std::move(log)) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
      const int err = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      dup2(stdin_fd >= 0 ? stdin_fd : null, 0);
      dup2(stdout_fd >= 0 ? stdout_fd : null, 1);
      dup2(err, 2);
      // The test's signal mask and dispositions must not leak into the child.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (!status_) {
      kill(pid_, SIGKILL);
      int s = 0;
      waitpid(pid_, &s, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) { kill(pid_, sig); }
  std::string log() const { return testing_support::read_text(log_); }

  bool running() {
    if (status_) return false;
    int s = 0;
    if (waitpid(pid_, &s, WNOHANG) == pid_) status_ = s;
    return !status_;
  }

  // The wait status, or nullopt if still running after `bound` (a safety bound, not a measurement).
  std::optional<int> wait(std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    return status_;
  }

  // Waits until the log contains `text`, the process ended, or `bound` passed.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(text) != std::string::npos) return true;
      if (!running()) return log().find(text) != std::string::npos;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // Spins until the process runs the `outbox` program (execve done), or it ended.
  bool wait_until_started(std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    const std::string program = std::filesystem::path(OUTBOX_CLI).filename().string().substr(0, 15);
    while (std::chrono::steady_clock::now() < deadline && running()) {
      if (testing_support::read_text("/proc/" + std::to_string(pid_) + "/comm") == program + "\n") return true;
    }
    return false;
  }

  // Spins until the `outbox` program has `path` open (e.g. its store's database file), or it ended.
  // Until execve the forked child holds the test's own descriptors (also its connection to the
  // same database): execve closes those (close-on-exec) before it renames the process, so the
  // descriptors count only once the name is the program's.
  bool wait_until_open(const std::string& path, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    const std::filesystem::path fds = "/proc/" + std::to_string(pid_) + "/fd";
    const auto wanted = std::filesystem::weakly_canonical(path);
    if (!wait_until_started(bound)) return false;
    while (std::chrono::steady_clock::now() < deadline && running()) {
      std::error_code ec;
      for (std::filesystem::directory_iterator it(fds, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code link_ec;
        if (std::filesystem::read_symlink(it->path(), link_ec) == wanted) return true;
      }
    }
    return false;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

inline std::string describe(const std::optional<int>& status) {
  return status ? testing_support::describe_status(*status) : std::string("still running (killed)");
}

inline bool exited_with(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

// The consumer's entry of `outbox status --json` (null if it has none yet).
inline nlohmann::json consumer_status(const std::string& store, const std::string& outbox,
                                      const std::string& consumer = "default") {
  const auto st = testing_support::cli("status --store " + store + " --outbox " + outbox + " --json");
  if (st.code != 0) throw std::runtime_error("outbox status failed: " + st.output);
  // stderr is merged in: a line before the JSON may hold '[' too (libmongoc's "[PID]: WARNING: ...
  // Falling back to malloc for counters" when /dev/shm is short), so the JSON starts at a line's start.
  const auto at = st.output.starts_with("[") ? 0 : st.output.find("\n[");
  if (at == std::string::npos) throw std::runtime_error("outbox status printed no JSON: " + st.output);
  const auto j = nlohmann::json::parse(st.output.substr(at == 0 ? 0 : at + 1));
  for (const auto& c : j.at(0).at("consumers")) {
    if (c.at("name") == consumer) return c;
  }
  return nullptr;
}

// Polls status until `done(consumer)` holds or `bound` passed; returns the last status seen.
template <class Predicate>
nlohmann::json wait_for_status(const std::string& store, const std::string& outbox, Predicate done,
                               std::chrono::milliseconds bound, const std::string& consumer = "default") {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  nlohmann::json c;
  for (;;) {
    c = consumer_status(store, outbox, consumer);
    if (!c.is_null() && done(c)) return c;
    if (std::chrono::steady_clock::now() >= deadline) return c;
    std::this_thread::sleep_for(50ms);
  }
}

// The lease owner a relay started as `pid` on this host records.
inline std::string owner_of(pid_t pid) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(pid);
}

// A loopback TCP port nobody listens on right now.
inline int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace testing_cli

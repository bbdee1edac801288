// Shared by the crash and restart tests: child processes with their output in files, killed and
// reaped when the test ends (also if the test process itself dies: PR_SET_PDEATHSIG).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace testing_support {

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last `n` characters of a log, for failure messages.
inline std::string tail_of(const std::string& text, std::size_t n = 2000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Every child a test starts. Each one also gets PR_SET_PDEATHSIG, so it dies with the test even
// if the test itself is killed (e.g. by ctest's timeout); the destructor kills and reaps the rest.
class Children {
 public:
  Children() = default;
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  ~Children() {
    for (pid_t pid : live_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }

  // Starts `argv` with stdout and stderr sent to files (appended).
  pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& out,
              const std::filesystem::path& err) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      ::close(o);
      ::close(e);
      ::execv(args[0], args.data());
      static const char failed[] = "test: exec failed\n";  // only async-signal-safe calls here
      [[maybe_unused]] const auto n = ::write(2, failed, sizeof failed - 1);
      ::_exit(127);
    }
    live_.insert(pid);
    return pid;
  }

  // Non-blocking: the exit status if `pid` has ended (and it is then forgotten).
  std::optional<int> poll(pid_t pid) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r != pid) return std::nullopt;
    live_.erase(pid);
    return status;
  }

  // Waits up to `timeout`; on timeout kills the child and returns nullopt.
  std::optional<int> wait(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto s = poll(pid)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid);
    return std::nullopt;
  }

  // Sends `signal` without waiting (e.g. SIGTERM for an orderly stop; then wait()).
  void signal(pid_t pid, int signal) { ::kill(pid, signal); }

  // SIGKILL and reap; returns the exit status (a child may have ended by itself just before).
  int kill(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    live_.erase(pid);
    return status;
  }

 private:
  std::set<pid_t> live_;
};

}  // namespace testing_support

#include "stop_signals.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace outbox::cli {

namespace {

constexpr std::uint64_t kRequest = 1;
constexpr std::uint64_t kQuit = std::uint64_t{1} << 32;

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

const char* name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a stop request"; }

}  // namespace

void block_stop_signals() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // A file size limit (ulimit -f) must fail the write with EFBIG, which the file sink reports and
  // the relay retries, rather than kill the process by SIGXFSZ holding its lease.
  std::signal(SIGXFSZ, SIG_IGN);
}

void die_by_signal(int sig) {
  std::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  // raise() targets this thread, so unblocking it here is enough for the default action (end the
  // process) to happen; pending instances of it are delivered on unblocking, too.
  raise(sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  std::_Exit(128 + sig);  // not reached
}

StopSignals::StopSignals() {
  const sigset_t set = stop_set();
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || wake_fd_ < 0) {
    throw std::runtime_error(std::string("cannot set up signal handling: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { loop(); });
}

StopSignals::~StopSignals() {
  const std::uint64_t quit = kQuit;
  [[maybe_unused]] const auto n = write(wake_fd_, &quit, sizeof quit);
  thread_.join();
  close(signal_fd_);
  close(wake_fd_);
}

void StopSignals::loop() {
  for (;;) {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("waiting for signals failed: {}", std::strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        on_signal(static_cast<int>(info.ssi_signo));
      }
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t value = 0;
      if (read(wake_fd_, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) continue;
      if (value & (kQuit - 1)) on_signal(0);
      if (value >= kQuit) return;
    }
  }
}

// `sig` 0 is request_stop().
void StopSignals::on_signal(int sig) {
  std::lock_guard lock(mutex_);
  if (mode_ == Mode::die) {
    if (sig != 0) die_by_signal(sig);
    return;
  }
  if (mode_ == Mode::finishing) {
    if (sig != 0) spdlog::info("received {} while finishing; already stopping", name(sig));
    return;
  }
  if (sig != 0 && signalled_) {
    spdlog::warn("received {} again: ending at once, without finishing the orderly stop", name(sig));
    die_by_signal(sig);
  }
  if (sig != 0) {
    signalled_ = true;
    spdlog::info("received {}, stopping{}", name(sig), mode_ == Mode::hold ? " as soon as started" : "");
  }
  if (mode_ == Mode::hold) {
    pending_ = true;
    return;
  }
  if (stopped_) return;
  stopped_ = true;
  handler_();
}

void StopSignals::hold() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::hold;
}

StopSignals::Handler::Handler(StopSignals& owner, std::function<void()> on_stop) : owner_(owner) {
  std::lock_guard lock(owner_.mutex_);
  owner_.handler_ = std::move(on_stop);
  owner_.mode_ = Mode::handle;
  if (owner_.pending_) {
    owner_.pending_ = false;
    owner_.stopped_ = true;
    owner_.handler_();
  }
}

StopSignals::Handler::~Handler() {
  std::lock_guard lock(owner_.mutex_);
  owner_.mode_ = Mode::finishing;
  owner_.handler_ = nullptr;
}

void StopSignals::request_stop() {
  const std::uint64_t one = kRequest;
  [[maybe_unused]] const auto n = write(wake_fd_, &one, sizeof one);
}

}  // namespace outbox::cli

#include "standard_output.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>

#include "stop_signals.hpp"

namespace outbox::cli {

void flush_stdout() {
  std::cout.flush();
  if (std::cout) return;
  if (errno == EPIPE) die_by_signal(SIGPIPE);
  throw std::runtime_error(std::string("writing to stdout failed: ") + std::strerror(errno) +
                           "; check where the output goes (disk full?)");
}

void end_if_stdout_reader_gone() {
  // Asking for no event still reports POLLERR (a pipe whose read end is closed) and POLLHUP (a
  // socket the peer shut down); a terminal or a regular file reports neither.
  pollfd out{.fd = STDOUT_FILENO, .events = 0, .revents = 0};
  if (poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP)) != 0) die_by_signal(SIGPIPE);
}

}  // namespace outbox::cli

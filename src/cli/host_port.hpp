// [HOST:]PORT as given to --metrics: a name or IPv4 address, or an IPv6 address in brackets
// ([::1]:9464), a colon, and a port 1-65535 with nothing after it; a bare PORT means 127.0.0.1:PORT.
#pragma once

#include <string>

namespace outbox::cli {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 address
  int port = 0;
};

// Throws UsageError naming `option` and what is wrong with `text`.
HostPort parse_host_port(const std::string& text, const std::string& option);

}  // namespace outbox::cli

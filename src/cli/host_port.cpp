#include "host_port.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "outbox/errors.hpp"
#include "printable.hpp"

namespace outbox::cli {

namespace {

bool is_hostname_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

}  // namespace

HostPort parse_host_port(const std::string& text, const std::string& option) {
  auto fail = [&](const std::string& why) -> HostPort {
    throw UsageError(option + " takes PORT (on 127.0.0.1) or HOST:PORT, e.g. 9464, 0.0.0.0:9464 or [::1]:9464, not '" +
                     printable(text) + "': " + why);
  };
  HostPort out;
  std::string port;
  const bool digits_only = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (digits_only) {
    // A bare port listens on loopback only: metrics and probes are not for other machines unless
    // an address says so.
    out.host = "127.0.0.1";
    port = text;
  } else if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return fail("the IPv6 address has no closing ']'");
    out.host = text.substr(1, close - 1);
    in6_addr address{};
    if (inet_pton(AF_INET6, out.host.c_str(), &address) != 1)
      return fail("'" + printable(out.host) + "' is not an IPv6 address");
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("the port is missing after ']'");
    port = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string::npos) return fail("the port is missing");
    if (text.find(':', colon + 1) != std::string::npos)
      return fail("an IPv6 address goes in brackets, e.g. [::1]:9464");
    out.host = text.substr(0, colon);
    if (out.host.empty()) return fail("the host is missing (0.0.0.0 listens on every IPv4 address)");
    for (char c : out.host) {
      if (!is_hostname_char(c)) return fail("the host may contain only letters, digits, '.', '-' and '_'");
    }
    port = text.substr(colon + 1);
  }
  if (port.empty()) return fail("the port is missing");
  if (port.size() > 5) return fail("the port must be a number from 1 to 65535");
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return fail("the port must be a number from 1 to 65535");
  }
  out.port = std::stoi(port);
  if (out.port < 1 || out.port > 65535) return fail("the port must be a number from 1 to 65535");
  return out;
}

}  // namespace outbox::cli

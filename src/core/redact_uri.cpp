// Passwords out of URIs and conninfo strings, for logs and errors.
#include <regex>

#include "outbox/store.hpp"

namespace outbox {

std::string redact_uri(const std::string& uri) {
  // scheme://user:password@host -> scheme://user:***@host
  static const std::regex userinfo(R"(^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@)");
  std::string out = std::regex_replace(uri, userinfo, "$1:***@", std::regex_constants::format_first_only);
  // password=... in key/value conninfo strings and query parameters; libpq also allows spaces
  // around '=' and a quoted value with spaces and \-escapes in it ("password = 'a b\'c'").
  static const std::regex keyword(R"((password|passwd|pwd|sasl\.password|secret)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^&\s]*))",
                                  std::regex::icase);
  return std::regex_replace(out, keyword, "$1$2***");
}

}  // namespace outbox

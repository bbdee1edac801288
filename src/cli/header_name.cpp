#include "header_name.hpp"

#include <cctype>
#include <cstring>

#include "outbox/errors.hpp"
#include "printable.hpp"

namespace outbox::cli {

void check_header_name(const std::string& name) {
  auto is_token_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
  };
  for (char c : name) {
    if (!is_token_char(c)) {
      throw UsageError("--header name '" + printable(name) +
                       "' is not a valid header name: use only letters, digits and !#$%&'*+-.^_`|~ (no spaces, ':' "
                       "or control characters), e.g. --header traceparent=00-...");
    }
  }
}

}  // namespace outbox::cli

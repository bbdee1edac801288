// Header names given to `outbox put --header NAME=VALUE`. Brokers carry them as they are (Kafka
// header keys, CloudEvents attributes, HTTP headers downstream), so the CLI takes only HTTP token
// characters (RFC 9110: letters, digits and !#$%&'*+-.^_`|~): no spaces, ':', CR/LF or other
// control characters that would corrupt or forge a header on the way.
#pragma once

#include <string>

namespace outbox::cli {

// Throws UsageError naming the header (escaped) and the rule.
void check_header_name(const std::string& name);

}  // namespace outbox::cli

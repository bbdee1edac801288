// Store and sink URIs must be plain text: the C clients read a URI up to its first NUL byte, so
// whatever follows one would be silently dropped (a fuzz finding: tests/fuzz/regressions/uri/).
#pragma once

#include <string>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::detail {

// Throws UsageError naming the URI (password hidden) up to the NUL; `what` is "store" or "sink".
inline void require_plain_text_uri(const std::string& uri, const char* what) {
  const auto nul = uri.find('\0');
  if (nul == std::string::npos) return;
  throw UsageError(std::string(what) + " URI '" + shorten_uri(uri.substr(0, nul)) +
                   "...' contains a NUL byte; pass the URI as plain text");
}

}  // namespace outbox::detail

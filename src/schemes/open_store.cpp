// Store URIs -> store objects, through the scheme table of the backends this build has.
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"

namespace outbox {

std::unique_ptr<Store> open_store(const std::string& uri, const StoreOptions& options) {
  // The C clients read the URI up to its first NUL: what follows would be silently dropped.
  if (uri.find('\0') != std::string::npos) {
    throw UsageError("store URI '" + shorten_uri(uri.substr(0, uri.find('\0'))) +
                     "...' contains a NUL byte; pass the URI as plain text");
  }
  if (const StoreScheme* scheme = find_store_scheme(uri)) return scheme->open(uri, options);
  const std::string supported = store_usages();
  throw UsageError("unknown store '" + shorten_uri(uri) + "': this build supports " +
                   (supported.empty() ? std::string("no store (enable one with -DOUTBOX_WITH_SQLITE=ON)") : supported));
}

}  // namespace outbox

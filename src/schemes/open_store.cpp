// Store URIs -> store objects, through the scheme table of the backends this build has.
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"
#include "plain_text_uri.hpp"

namespace outbox {

std::unique_ptr<Store> open_store(const std::string& uri, const StoreOptions& options) {
  detail::require_plain_text_uri(uri, "store");
  if (const StoreScheme* scheme = find_store_scheme(uri)) return scheme->open(uri, options);
  const std::string supported = store_usages();
  throw UsageError("unknown store '" + shorten_uri(uri) + "': this build supports " +
                   (supported.empty() ? std::string("no store (enable one with -DOUTBOX_WITH_SQLITE=ON)") : supported));
}

}  // namespace outbox

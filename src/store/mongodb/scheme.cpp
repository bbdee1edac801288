// mongodb:// and mongodb+srv:// URIs in the scheme table.
#include "outbox/scheme.hpp"
#include "outbox/mongodb.hpp"

namespace outbox::mongodb {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"); }

std::unique_ptr<Store> open_uri(const std::string& uri, const StoreOptions& options) { return open(uri, options); }

}  // namespace

const StoreScheme store_scheme{"mongodb", "mongodb://... (or mongodb+srv://...)", accepts, open_uri};

}  // namespace outbox::mongodb
